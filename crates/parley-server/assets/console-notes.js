// Internal notes and whispers in the conversation, and tags on the session and the contact. Added to the agent console through `Parley.console` (console.js's extension points).
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
  const { api, h, clear, $, notify, showError, debounce } = P;
  const C = P.console;
  const me = P.me || { id: '' };

  // --- Notes in the timeline ---------------------------------------------------------------

  const isoOf = (at) => {
    const d = new Date(at);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
  };

  /** A note or whisper as the timeline shows it (console.js's renderMessages asks for it). */
  C.noteItem = (e) => {
    const author = e.author_name || P.t('notes.someone');
    const time = P.ago(e.created_at);
    const whisper = Boolean(e.whisper_to);
    const head = !whisper
      ? P.t('notes.note_head', { author, time })
      : e.whisper_to === me.id
        ? P.t('notes.whisper_to_you', { author, time })
        : P.t('notes.whisper_to_other', { author, agent: e.whisper_to_name || P.t('notes.someone'), time });
    return h('li', {
      class: 'note-item' + (whisper ? ' whisper' : ''),
      'data-testid': whisper ? 'whisper' : 'note',
      role: 'note',
      dataset: { noteId: e.id || '', sessionId: e.session_id || '', direction: 'note' },
    },
    h('div', { class: 'bubble note' },
      h('p', { class: 'note-head', 'data-testid': 'note-head' },
        h('time', { datetime: isoOf(e.created_at), text: head })),
      h('p', { class: 'text', 'data-testid': 'note-text', text: e.body || '' })));
  };

  // --- Reply or internal note --------------------------------------------------------------

  let mode = 'reply';
  let saving = false;

  /** Whether the composer itself is shown (the agent's own open session, window open). */
  function composerShown() {
    const form = $('composer');
    return Boolean(form) && !form.hidden && window.getComputedStyle(form).display !== 'none';
  }

  /**
   * Who may add a note here: the agent working the session, or a supervisor reading it (the API
   * decides the same; this only spares a refusal).
   */
  function mayNote() {
    return Boolean(C.selectedId()) && (C.owned() || P.can('supervise'));
  }

  /** The note box alone, below the timeline, when the composer is not there to switch. */
  let standalone = null;
  function standaloneBox() {
    if (!standalone) {
      standalone = h('div', { class: 'composer note-mode standalone', id: 'note-standalone', 'data-testid': 'note-standalone', hidden: true });
      $('composer').after(standalone);
    }
    return standalone;
  }

  function place() {
    const row = $('note-row');
    const form = $('composer');
    if (!row || !form) return;
    const alone = !composerShown() && mayNote();
    const box = standaloneBox();
    if (alone) {
      if (row.parentElement !== box) box.appendChild(row);
      box.hidden = false;
      $('note-label').hidden = false;
      row.hidden = false;
    } else {
      if (row.parentElement !== form) $('compose-mode').after(row);
      box.hidden = true;
      $('note-label').hidden = true;
      row.hidden = mode !== 'note';
    }
    updateNoteButton();
  }

  function setMode(next, focus) {
    mode = next === 'note' ? 'note' : 'reply';
    const form = $('composer');
    form.classList.toggle('note-mode', mode === 'note');
    form.dataset.mode = mode;
    for (const input of form.querySelectorAll('input[name="compose-mode"]')) input.checked = input.value === mode;
    $('note-hint').hidden = mode !== 'note';
    place();
    if (focus) (mode === 'note' ? $('note-body') : $('body')).focus();
  }

  function updateNoteButton() {
    $('note-send').disabled = saving || $('note-body').value.trim() === '';
  }

  async function addNote() {
    const id = C.selectedId();
    const area = $('note-body');
    const text = area.value;
    if (!id || saving || text.trim() === '') return;
    saving = true;
    updateNoteButton();
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/notes', { body: text });
      if (area.value === text) area.value = '';
      notify(P.t('notes.added'), 'info');
      C.refreshTimeline();
    } catch (err) {
      showError(P.t('notes.not_added'), err);
    } finally {
      saving = false;
      updateNoteButton();
      area.focus();
    }
  }

  function wireNotes() {
    const form = $('composer');
    if (!form || !$('note-row')) return;
    for (const input of form.querySelectorAll('input[name="compose-mode"]')) {
      input.addEventListener('change', () => setMode(input.value, true));
    }
    const area = $('note-body');
    area.addEventListener('input', updateNoteButton);
    area.addEventListener('keydown', (ev) => {
      // As in the reply box: Enter adds, Shift+Enter is a new line.
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        addNote();
      }
    });
    $('note-send').addEventListener('click', addNote);
    document.addEventListener('keydown', (ev) => {
      if (!ev.altKey || ev.ctrlKey || ev.metaKey || ev.code !== 'KeyN') return;
      if ($('conv').hidden || !composerShown()) return;
      ev.preventDefault();
      setMode(mode === 'note' ? 'reply' : 'note', true);
    });
    // The composer shows and hides with the session (console.js): the note box follows it.
    new MutationObserver(place).observe(form, { attributes: true, attributeFilter: ['hidden'] });
    const hint = document.querySelector('.rail .hint');
    if (hint) hint.textContent += ' ' + P.t('notes.keys_hint');
    setMode('reply', false);
  }

  C.on('select', (d) => {
    if (d.changed) {
      $('note-body').value = '';
      setMode('reply', false);
    }
    place();
  });
  C.on('deselect', () => {
    if (standalone) standalone.hidden = true;
  });
  C.on('timeline', place);

  P.on('note', (data) => {
    if (!data || !data.session_id) return;
    const shown = data.session_id === C.selectedId() || C.timeline().some((e) => e.session_id === data.session_id);
    if (shown) C.refreshTimeline();
    if (data.whisper_to && data.whisper_to === me.id) notify(P.t('notes.new_whisper'), 'info');
  });

  // --- Tags ------------------------------------------------------------------------------

  /**
   * A chip input: the item's tags as chips, a text box that suggests known tags as one types.
   * Keys: ↑/↓ choose a suggestion, Enter adds it (or the typed text), Backspace in an empty box
   * removes the last chip, Escape closes the list. Every change saves the whole set.
   */
  function chipInput(prefix, save) {
    const chips = $(prefix + '-tag-chips');
    const input = $(prefix + '-tag-input');
    const list = $(prefix + '-tag-list');
    const field = { tags: [], active: -1, options: [], seq: 0, saving: 0 };

    function render() {
      clear(chips);
      for (const tag of field.tags) {
        chips.appendChild(h('li', { class: 'tag-chip', 'data-testid': prefix + '-tag', dataset: { tag } },
          h('span', { text: tag }),
          h('button', { type: 'button', class: 'chip-remove', 'aria-label': P.t('tags.remove', { tag }), title: P.t('tags.remove', { tag }),
            onclick: () => commit(field.tags.filter((t) => t !== tag)) })));
      }
    }

    function close() {
      list.hidden = true;
      input.setAttribute('aria-expanded', 'false');
      input.removeAttribute('aria-activedescendant');
      field.active = -1;
    }

    function renderOptions() {
      clear(list);
      field.options.forEach((o, i) => {
        const li = h('li', {
          id: prefix + '-tag-opt-' + i, role: 'option', 'aria-selected': i === field.active ? 'true' : 'false',
          'data-testid': prefix + '-tag-option', dataset: { tag: o.tag },
          text: o.fresh ? P.t('tags.new_tag', { tag: o.tag }) : o.tag,
        });
        li.addEventListener('mousedown', (ev) => {
          ev.preventDefault();
          add(o.tag);
        });
        list.appendChild(li);
      });
      const open = field.options.length > 0;
      list.hidden = !open;
      input.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (field.active >= 0) input.setAttribute('aria-activedescendant', prefix + '-tag-opt-' + field.active);
      else input.removeAttribute('aria-activedescendant');
    }

    const suggest = debounce(async () => {
      const typed = input.value.trim().toLowerCase();
      const seq = ++field.seq;
      let found = [];
      try {
        const data = await api('GET', '/api/v1/tags?q=' + encodeURIComponent(typed));
        found = P.items(data, 'items');
      } catch (_) {
        found = [];
      }
      if (seq !== field.seq || document.activeElement !== input) return;
      const options = found.filter((t) => !field.tags.includes(t)).map((tag) => ({ tag, fresh: false }));
      if (typed && !found.includes(typed) && !field.tags.includes(typed)) options.push({ tag: typed, fresh: true });
      field.options = options;
      field.optionsFor = typed;
      field.active = options.length ? 0 : -1;
      renderOptions();
    }, 150);

    async function commit(next) {
      const before = field.tags;
      field.tags = next;
      field.saving += 1;
      render();
      try {
        const saved = await save(next);
        if (saved && field.tags === next) field.tags = saved;
      } catch (err) {
        if (field.tags === next) field.tags = before;
        showError(P.t('tags.not_saved'), err);
      } finally {
        field.saving -= 1;
      }
      render();
    }

    function add(tag) {
      const t = String(tag || '').trim().toLowerCase().split(/\s+/).join(' ');
      input.value = '';
      close();
      if (!t || field.tags.includes(t)) return;
      commit(field.tags.concat([t]));
    }

    input.addEventListener('input', suggest);
    input.addEventListener('focus', suggest);
    input.addEventListener('blur', close);
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        if (!field.options.length) return;
        ev.preventDefault();
        const n = field.options.length;
        field.active = ev.key === 'ArrowDown' ? (field.active + 1) % n : (field.active - 1 + n) % n;
        renderOptions();
      } else if (ev.key === 'Enter') {
        ev.preventDefault();
        // Suggestions still showing for an earlier text (the next ones not back yet): the first
        // that begins with what is typed, else the typed text itself.
        const typed = input.value.trim().toLowerCase();
        const current = field.optionsFor === typed;
        const chosen = !list.hidden && (current
          ? field.options[field.active]
          : field.options.find((o) => o.tag.startsWith(typed)));
        add(chosen ? chosen.tag : input.value);
      } else if (ev.key === 'Backspace' && input.value === '' && field.tags.length) {
        ev.preventDefault();
        commit(field.tags.slice(0, -1));
      } else if (ev.key === 'Escape' && !list.hidden) {
        ev.stopPropagation();
        close();
      }
    });

    return {
      /** Shows the item's tags as read; what the agent is typing stays. */
      set(tags) {
        field.tags = Array.isArray(tags) ? tags.slice() : [];
        if (document.activeElement !== input) {
          input.value = '';
          close();
        }
        render();
      },
      /** A change is being saved: a read from before it must not undo it on screen. */
      busy: () => field.saving > 0,
    };
  }

  let sessionTags = null;
  let contactTags = null;
  let tagsFor = null;

  async function loadSessionTags() {
    const id = C.selectedId();
    if (!id) return;
    tagsFor = id;
    let s;
    try {
      s = await api('GET', '/api/v1/sessions/' + encodeURIComponent(id));
    } catch (_) {
      s = null;
    }
    if (tagsFor !== id || id !== C.selectedId() || sessionTags.busy()) return;
    sessionTags.set(s && s.tags);
  }

  function wireTags() {
    if (!$('tags-panel')) return;
    sessionTags = chipInput('session', async (tags) => {
      const id = C.selectedId();
      const r = await api('PUT', '/api/v1/sessions/' + encodeURIComponent(id) + '/tags', { tags });
      return r && r.tags;
    });
    contactTags = chipInput('contact', async (tags) => {
      const c = C.contact();
      if (!c) return tags;
      const r = await api('PUT', '/api/v1/contacts/' + encodeURIComponent(c.id) + '/tags', { tags });
      if (r && r.tags) c.tags = r.tags;
      return r && r.tags;
    });
  }

  C.on('select', (d) => {
    if (!sessionTags) return;
    $('tags-panel').hidden = !P.can('send_receive');
    // The same session shown again (a refresh): its tags are the ones on screen.
    if (!d.changed && tagsFor === d.id) return;
    sessionTags.set([]);
    loadSessionTags();
  });
  C.on('side', ({ contact }) => {
    if (!contactTags) return;
    $('contact-tag-none').hidden = Boolean(contact);
    $('contact-tag-box').hidden = !contact;
    if (!contactTags.busy()) contactTags.set(contact ? contact.tags : []);
  });
  C.on('deselect', () => {
    if ($('tags-panel')) $('tags-panel').hidden = true;
  });

  document.addEventListener('DOMContentLoaded', () => {
    wireNotes();
    wireTags();
  });
})();
