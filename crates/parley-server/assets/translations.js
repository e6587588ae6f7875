// Translations: every per-language text of the configuration (keyword responses, automatic
// replies, widget labels) with its source beside it; a translator edits one in place and saves it
// with Enter or by leaving the field. Needs only the `translate` permission.
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, showError, notify, t } = P;

  let rows = [];

  function where(item) {
    let what;
    if (item.kind === 'widget_label' && item.key.startsWith('prechat.')) {
      what = t('translations.key_prechat', { field: item.key.slice('prechat.'.length) });
    } else {
      what = t('translations.key_' + item.kind + '.' + item.key);
    }
    return [h('strong', { text: item.owner_name }), h('br'), h('span', { class: 'muted small', text: t('translations.kind_' + item.kind) + ' · ' + what })];
  }

  async function save(item, input) {
    const text = input.value.trim();
    // Enter saves, and so does leaving the field: one write per text.
    if (text === (item.translation || '') || input.dataset.saving === text) return;
    input.dataset.saving = text;
    input.disabled = true;
    try {
      const locale = $('tr-locale').value;
      await api('PUT', '/api/v1/translations/' + encodeURIComponent(item.kind) + '/' + encodeURIComponent(item.id) + '/' + locale, { text });
      item.translation = text || null;
      item.translated = Boolean(text);
      input.closest('tr').dataset.missing = item.translation ? 'false' : 'true';
      notify(t('translations.saved'), 'info');
    } catch (err) {
      showError(t('translations.save_failed'), err);
    } finally {
      delete input.dataset.saving;
      input.disabled = false;
    }
  }

  function render() {
    const body = clear($('tr-rows'));
    const onlyMissing = $('tr-missing').checked;
    let shown = 0;
    for (const item of rows) {
      if (onlyMissing && item.translation) continue;
      shown += 1;
      const input = h('textarea', {
        rows: 2, maxlength: String(item.max_length || 1000), 'data-testid': 'translation-text',
        'aria-label': t('translations.col_translation') + ' · ' + item.owner_name,
        placeholder: t('translations.missing'),
      });
      input.value = item.translation || '';
      input.addEventListener('change', () => save(item, input));
      input.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); save(item, input); }
      });
      body.appendChild(h('tr', {
        'data-testid': 'translation-row',
        dataset: { kind: item.kind, id: item.id, missing: item.translation ? 'false' : 'true' },
      },
      h('td', null, where(item)),
      h('td', { lang: item.source_locale }, h('p', { class: 'text', text: item.source })),
      h('td', null, input)));
    }
    $('tr-empty').hidden = shown > 0;
  }

  async function load() {
    try {
      const res = await api('GET', '/api/v1/translations?locale=' + encodeURIComponent($('tr-locale').value));
      rows = (res && res.items) || [];
      render();
    } catch (err) {
      showError(t('translations.load_failed'), err);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('tr-locale').addEventListener('change', load);
    $('tr-missing').addEventListener('change', render);
    load();
  });
})();
