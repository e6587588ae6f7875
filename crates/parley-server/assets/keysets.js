// Keysets (admins, issue 14, WEB-17/18): the public keys that sign verified visitors' tokens.
// A keyset has a name, the tokens' issuer, and keys uploaded ONE at a time by pasting a JWK
// object (an array is refused by the server), or a JWKS URL Parley fetches. Everything goes
// through /api/v1/keysets; every text from the server is put in the page as text (Parley.h).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago, t } = P;
  const BASE = '/api/v1/keysets';

  function newForm() {
    const name = h('input', { id: 'ks-name', type: 'text', required: true, maxlength: 64, placeholder: t('keysets.name_placeholder') });
    const issuer = h('input', { id: 'ks-issuer', type: 'text', required: true, maxlength: 255, placeholder: 'https://www.example.com' });
    const url = h('input', { id: 'ks-url', type: 'url', placeholder: t('keysets.url_placeholder') });
    const form = h('form', { class: 'tok-new', 'data-testid': 'ks-new' },
      h('label', { for: 'ks-name', text: t('keysets.name') }), ' ', name, ' ',
      h('label', { for: 'ks-issuer', text: t('keysets.issuer') }), ' ', issuer, ' ',
      h('label', { for: 'ks-url', text: t('keysets.jwks_url') }), ' ', url, ' ',
      h('button', { type: 'submit', class: 'primary' }, t('keysets.create')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', BASE, { name: name.value, issuer: issuer.value, jwks_url: url.value.trim() || null });
        notify(t('keysets.created'), 'info');
        showList();
      } catch (e) {
        showError(t('keysets.error.create'), e);
      }
    });
    return form;
  }

  function uploadForm(k) {
    const text = h('textarea', { rows: 5, 'data-testid': 'ks-jwk', 'aria-label': t('keysets.jwk_label'),
      placeholder: '{"kty": "RSA", "kid": "key-1", "alg": "RS256", "use": "sig", "n": "...", "e": "AQAB"}' });
    const error = h('p', { class: 'field-errors', 'data-testid': 'ks-jwk-error', hidden: true });
    const form = h('form', { class: 'admin-form' },
      text, error,
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', 'data-testid': 'ks-upload' }, t('keysets.upload'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      let jwk;
      try {
        jwk = JSON.parse(text.value);
      } catch (_) {
        error.textContent = t('keysets.not_json');
        error.hidden = false;
        return;
      }
      try {
        await api('POST', BASE + '/' + encodeURIComponent(k.id) + '/keys', jwk);
        notify(t('keysets.uploaded'), 'info');
        showList();
      } catch (e) {
        error.textContent = e.message || String(e);
        error.hidden = false;
      }
    });
    return form;
  }

  async function removeKey(k, kid) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(k.id) + '/keys/' + encodeURIComponent(kid));
      notify(t('keysets.key_removed', { kid }), 'info');
      showList();
    } catch (e) {
      showError(t('keysets.error.remove_key'), e);
    }
  }

  async function removeKeyset(k) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(k.id));
      notify(t('keysets.deleted', { name: k.name }), 'info');
      showList();
    } catch (e) {
      showError(t('keysets.error.delete'), e);
    }
  }

  function card(k) {
    const keys = k.keys.length
      ? h('table', { class: 'grid' },
        h('thead', null, h('tr', null, ...['kid', t('keysets.col.algorithm'), t('keysets.col.uploaded'), ''].map((x) => h('th', { text: x })))),
        h('tbody', null, ...k.keys.map((key) => h('tr', { 'data-testid': 'ks-key' },
          h('td', null, h('code', { text: key.kid })),
          h('td', { text: key.alg }),
          h('td', { title: P.exact(key.created_at), text: ago(key.created_at) }),
          h('td', null, h('button', { type: 'button', class: 'link', onclick: () => removeKey(k, key.kid) }, t('keysets.remove')))))))
      : h('p', { class: 'empty', text: k.jwks_url ? t('keysets.no_keys_url') : t('keysets.no_keys') });
    return h('section', { class: 'panel wide', 'data-testid': 'ks-card', 'data-name': k.name },
      h('div', { class: 'admin-head' }, h('h3', { text: k.name }),
        h('button', { type: 'button', class: 'danger', disabled: k.deployments.length > 0,
          title: k.deployments.length ? t('keysets.used_by_title', { names: k.deployments.join(', ') }) : '', onclick: () => removeKeyset(k) }, t('keysets.delete'))),
      h('p', null, t('keysets.issuer_value'), h('code', { text: k.issuer })),
      k.jwks_url ? h('p', null, t('keysets.jwks_url_value'), h('code', { text: k.jwks_url })) : null,
      h('p', { class: 'muted', text: k.deployments.length ? t('keysets.used_by', { names: k.deployments.join(', ') }) : t('keysets.unused') }),
      keys,
      h('h4', { text: t('keysets.upload_title') }),
      h('p', { class: 'hint', text: t('keysets.upload_hint') }),
      uploadForm(k));
  }

  async function showList() {
    const box = $('ks-list');
    let list;
    try {
      list = items(await api('GET', BASE));
    } catch (e) {
      showError(t('keysets.error.load'), e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: t('keysets.title') }),
      h('a', { href: '/console/admin/web-deployments', text: t('keysets.back') })),
      h('p', { class: 'empty', text: t('keysets.intro') }),
      newForm());
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: t('keysets.none') }));
      return;
    }
    list.forEach((k) => box.append(card(k)));
  }

  document.addEventListener('DOMContentLoaded', showList);
})();
