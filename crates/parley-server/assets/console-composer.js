// The composer's emoji picker, file upload, the SMS counter's segment, read state, and offer notifications. Added to the agent console through `Parley.console` (console.js's extension points).
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
  const C = P.console;
  const { api, h, clear, $, notify, showError } = P;

  // --- Emoji picker -------------------------------------------------------------------------
  // Our own small set: the emoji agents reach for, as characters (no images, no third party).
  const EMOJI = [
    ['smileys', '😀 😃 😄 😁 😆 😅 😂 🤣 😊 😇 🙂 🙃 😉 😌 😍 🥰 😘 😋 😛 😜 🤪 🤗 🤔 🤨 😐 😑 😶 🙄 😏 😬 😮 😯 😲 😳 🥺 😢 😭 😤 😠 😡 🤯 😱 😴 🤒 🤕 🥳 😎 🤓'],
    ['people', '👋 🤚 ✋ 🖐️ 👌 🤞 ✌️ 🤟 👍 👎 👏 🙌 🤝 🙏 💪 👀 🧑‍💻 🙋 🤷 🤦 👉 👈 👆 👇'],
    ['hearts', '❤️ 🧡 💛 💚 💙 💜 🖤 🤍 💔 💕 💯 ✅ ❌ ⚠️ ❓ ❗ ⭐ ✨ 🔥 💡 ⏰ ⏳ 🔒 🔑'],
    ['objects', '🎉 🎊 🎁 🎈 🏆 📦 📱 💻 📧 📞 📅 📌 📎 📝 💳 💰 🛒 🧾 🔧 🔔'],
    ['nature', '🐶 🐱 🐻 🐼 🦊 🐝 🦋 🌸 🌻 🌳 🍀 🌈 ☀️ 🌙 ❄️ 🌊'],
    ['food', '☕ 🍵 🍕 🍔 🍟 🌮 🍣 🍰 🎂 🍪 🍎 🍓 🍷 🍺'],
    ['travel', '🚗 🚕 🚚 ✈️ 🚆 🚲 🏠 🏢 🏥 🗺️ 📍 🌍'],
  ].map(([name, list]) => ({ name, list: list.split(' ') }));

  const COLUMNS = 8;
  let emojiCells = [];
  let emojiIndex = 0;

  function buildPicker() {
    const tabs = clear($('emoji-tabs'));
    const grid = clear($('emoji-grid'));
    emojiCells = [];
    for (const cat of EMOJI) {
      const first = emojiCells.length;
      tabs.appendChild(h('button', {
        type: 'button', class: 'emoji-tab', role: 'tab', tabindex: '-1',
        title: P.t('composer.emoji_cat_' + cat.name), 'aria-label': P.t('composer.emoji_cat_' + cat.name),
        dataset: { first: String(first) }, text: cat.list[0],
        onclick: () => focusEmoji(first),
      }));
      grid.appendChild(h('p', { class: 'emoji-cat', role: 'presentation', text: P.t('composer.emoji_cat_' + cat.name) }));
      const row = h('div', { class: 'emoji-cells', role: 'row' });
      for (const e of cat.list) {
        const cell = h('button', {
          type: 'button', class: 'emoji', role: 'gridcell', tabindex: '-1', 'data-testid': 'emoji',
          dataset: { emoji: e }, text: e, onclick: () => insertEmoji(e),
        });
        emojiCells.push(cell);
        row.appendChild(cell);
      }
      grid.appendChild(row);
    }
  }

  function focusEmoji(i) {
    if (!emojiCells.length) return;
    emojiIndex = Math.max(0, Math.min(emojiCells.length - 1, i));
    for (const [n, c] of emojiCells.entries()) c.tabIndex = n === emojiIndex ? 0 : -1;
    emojiCells[emojiIndex].focus();
  }

  function openPicker() {
    const box = $('emoji-box');
    if (!emojiCells.length) buildPicker();
    const item = C.current();
    $('emoji-sms-note').hidden = !(item && item.channel && item.channel.kind === 'sms');
    box.hidden = false;
    $('emoji-open').setAttribute('aria-expanded', 'true');
    focusEmoji(emojiIndex);
  }

  function closePicker(refocus) {
    $('emoji-box').hidden = true;
    $('emoji-open').setAttribute('aria-expanded', 'false');
    if (refocus) $('body').focus();
  }

  /** Puts `text` at the caret (replacing a selection) and lets the console count it again. */
  function insertAtCaret(text) {
    const area = $('body');
    const start = area.selectionStart ?? area.value.length;
    const end = area.selectionEnd ?? start;
    area.setRangeText(text, start, end, 'end');
    area.dispatchEvent(new Event('input', { bubbles: true }));
  }

  function insertEmoji(e) {
    insertAtCaret(e);
    closePicker(true);
  }

  function wirePicker() {
    $('emoji-open').addEventListener('click', () => ($('emoji-box').hidden ? openPicker() : closePicker(true)));
    $('emoji-grid').addEventListener('keydown', (ev) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
      if (ev.key in moves) {
        ev.preventDefault();
        focusEmoji(emojiIndex + moves[ev.key]);
      } else if (ev.key === 'Home' || ev.key === 'End') {
        ev.preventDefault();
        focusEmoji(ev.key === 'Home' ? 0 : emojiCells.length - 1);
      } else if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        ev.stopPropagation();
        insertEmoji(emojiCells[emojiIndex].dataset.emoji);
      }
    });
    $('emoji-box').addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        ev.stopPropagation();
        closePicker(true);
      }
    });
    document.addEventListener('click', (ev) => {
      const box = $('emoji-box');
      if (!box.hidden && !box.contains(ev.target) && !$('emoji-open').contains(ev.target)) closePicker(false);
    });
  }

  // --- Files --------------------------------------------------------------------------------
  // One file per message (CH-32): checked against the channel's rules before the upload, uploaded
  // at once with its progress, and sent with the next message by its media id.
  const file = { rules: null, rulesFor: null, id: null, uploading: null, name: '' };

  const sessionId = () => {
    const item = C.current();
    return (item && item.session && item.session.id) || null;
  };

  function size(bytes) {
    return bytes >= 1000000
      ? P.t('composer.size_mb', { n: P.number(Math.round(bytes / 100000) / 10) })
      : P.t('composer.size_kb', { n: P.number(Math.max(1, Math.round(bytes / 1000))) });
  }

  async function loadRules() {
    const id = sessionId();
    const button = $('attach-open');
    if (!id || !C.owned()) return;
    if (file.rulesFor === id) return;
    file.rulesFor = id;
    file.rules = null;
    // Off until the channel's rules are known, so a file is always checked before its upload.
    button.disabled = true;
    button.title = P.t('composer.attach_title');
    try {
      const rules = await api('GET', '/api/v1/sessions/' + encodeURIComponent(id) + '/media-rules');
      if (file.rulesFor !== id) return;
      file.rules = rules;
      button.disabled = Boolean(rules.unavailable);
      if (rules.unavailable) {
        button.title = P.t('composer.attach_unavailable', { reason: unavailableWhy(rules) });
      }
      $('attach-input').accept = (rules.accepts || []).map((a) => a.content_type).join(',');
    } catch (_) {
      // The server checks every upload too: without the rules the file goes up unchecked here.
      file.rulesFor = null;
      button.disabled = false;
    }
  }

  /** Why no file goes on this channel, from the catalogue by the server's code. */
  const unavailableWhy = (rules) => (rules.unavailable_code === 'country'
    ? P.t('composer.unavailable_country')
    : P.t('composer.unavailable_provider'));

  /** Why the channel will not take `f`, in words naming the limit; '' when it will. */
  function refusal(f) {
    const rules = file.rules;
    if (!rules) return '';
    if (rules.unavailable) return P.t('composer.attach_unavailable', { reason: unavailableWhy(rules) });
    let type = (f.type || '').toLowerCase();
    if (type === 'image/jpg') type = 'image/jpeg';
    const accepted = (rules.accepts || []).find((a) => a.content_type === type);
    if (!accepted) {
      const types = (rules.accepts || []).map((a) => a.content_type.split('/').pop()).join(', ');
      return P.t('composer.attach_type', { name: f.name, type: type || '?', types });
    }
    if (f.size > accepted.max_bytes) {
      return P.t('composer.attach_size', { name: f.name, size: size(f.size), max: size(accepted.max_bytes), type });
    }
    return '';
  }

  function showAttachment(state, percent) {
    const box = $('attachment');
    box.hidden = !state;
    box.dataset.state = state || '';
    if (!state) return;
    $('attachment-name').textContent = file.name;
    $('attachment-progress').value = percent || 0;
    $('attachment-progress').hidden = state !== 'uploading';
    $('attachment-state').textContent = state === 'uploading'
      ? P.t('composer.attach_uploading', { percent: P.number(percent || 0) })
      : state === 'ready' ? P.t('composer.attach_ready') : P.t('composer.attach_failed');
    enableSend();
  }

  function dropAttachment() {
    if (file.uploading) file.uploading.abort();
    file.uploading = null;
    file.id = null;
    file.name = '';
    $('attach-input').value = '';
    showAttachment(null);
    C.analyze();
  }

  async function attach(f) {
    if (!f || !C.owned()) return;
    await loadRules();
    const why = refusal(f);
    if (why) {
      notify(why, 'error');
      return;
    }
    dropAttachment();
    const id = sessionId();
    file.name = f.name + ' · ' + size(f.size);
    showAttachment('uploading', 0);
    const xhr = new XMLHttpRequest();
    file.uploading = xhr;
    xhr.open('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/media');
    xhr.setRequestHeader('X-CSRF-Token', P.csrf);
    xhr.setRequestHeader('Content-Type', f.type || 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (ev) => {
      if (ev.lengthComputable) showAttachment('uploading', Math.round((ev.loaded / ev.total) * 100));
    });
    xhr.addEventListener('load', () => {
      if (file.uploading !== xhr) return;
      file.uploading = null;
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (_) { data = null; }
      if (xhr.status === 201 && data && data.id) {
        file.id = data.id;
        showAttachment('ready', 100);
      } else {
        const err = (data && (data.error || data)) || {};
        showAttachment('failed');
        notify(P.t('composer.attach_failed') + ': ' + (err.message || xhr.statusText), 'error');
      }
    });
    xhr.addEventListener('error', () => {
      if (file.uploading !== xhr) return;
      file.uploading = null;
      showAttachment('failed');
      notify(P.t('composer.attach_failed'), 'error');
    });
    xhr.send(f);
  }

  /** With a file ready, the message may go without text. */
  function enableSend() {
    if (file.id && C.owned()) $('send').disabled = false;
  }

  async function sendWithFile() {
    const id = sessionId();
    const area = $('body');
    const text = area.value;
    const mediaId = file.id;
    $('send').disabled = true;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/messages', { body: text, media_ids: [mediaId] });
      if (area.value === text) area.value = '';
      dropAttachment();
      C.refreshTimeline();
      C.refreshWork();
    } catch (err) {
      showError(P.t('composer.attach_not_sent'), err);
    } finally {
      C.analyze();
      enableSend();
      area.focus();
    }
  }

  function wireFiles() {
    const form = $('composer');
    $('attach-open').addEventListener('click', () => $('attach-input').click());
    $('attach-input').addEventListener('change', (ev) => {
      const files = ev.target.files || [];
      if (files.length > 1) notify(P.t('composer.attach_one'), 'info');
      attach(files[0]);
    });
    $('attachment-remove').addEventListener('click', dropAttachment);
    // With a file ready, sending (the button or Enter) sends it with the text: these listeners
    // run before console.js's own, on the form in the capture phase.
    form.addEventListener('submit', (ev) => {
      if (!file.id) return;
      ev.preventDefault();
      ev.stopImmediatePropagation();
      sendWithFile();
    }, true);
    form.addEventListener('keydown', (ev) => {
      if (!file.id || ev.target !== $('body')) return;
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        ev.stopPropagation();
        sendWithFile();
      }
    }, true);
    $('body').addEventListener('input', enableSend);
    $('body').addEventListener('paste', (ev) => {
      const items = Array.from((ev.clipboardData && ev.clipboardData.files) || []);
      const image = items.find((f) => (f.type || '').startsWith('image/'));
      if (image) {
        ev.preventDefault();
        attach(image);
      }
    });
    form.addEventListener('dragover', (ev) => {
      if (!C.owned() || !ev.dataTransfer || !Array.from(ev.dataTransfer.types || []).includes('Files')) return;
      ev.preventDefault();
      form.classList.add('dropping');
      form.dataset.dropHint = P.t('composer.drop_here');
    });
    form.addEventListener('dragleave', (ev) => {
      if (!form.contains(ev.relatedTarget)) form.classList.remove('dropping');
    });
    form.addEventListener('drop', (ev) => {
      form.classList.remove('dropping');
      const files = (ev.dataTransfer && ev.dataTransfer.files) || [];
      if (!files.length) return;
      ev.preventDefault();
      if (files.length > 1) notify(P.t('composer.attach_one'), 'info');
      attach(files[0]);
    });
  }

  // --- Read state on outbound messages ------------------------------------------------------
  // Ticks beside the status: one for sent, two for delivered, two in the accent colour for read.
  const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓' };
  function drawTicks({ list }) {
    for (const span of list.querySelectorAll('.message.out .delivery')) {
      const li = span.closest('.message');
      const status = (li && li.dataset.status) || '';
      if (!TICKS[status] || span.querySelector('.ticks')) continue;
      span.title = P.t('composer.' + status + '_title');
      span.insertBefore(h('span', { class: 'ticks ticks-' + status, 'aria-hidden': 'true', 'data-testid': 'message-ticks', text: TICKS[status] + ' ' }), span.firstChild);
    }
  }

  // --- Offer alerts -------------------------------------------------------------------------
  // Kept in this browser (localStorage, per agent): whether to alert, asked on the agent's click.
  const KEY = 'parley.offer-alerts.' + ((P.me && P.me.id) || '');
  let audio = null;
  let known = null;

  const alertsOn = () => {
    try { return window.localStorage.getItem(KEY) === 'on'; } catch (_) { return false; }
  };

  function showAlertState() {
    const on = alertsOn();
    $('offer-alerts').checked = on;
    const note = $('offer-alerts-state');
    if (!on) note.textContent = P.t('composer.alerts_off');
    else if (!('Notification' in window)) note.textContent = P.t('composer.alerts_unsupported');
    else if (Notification.permission === 'denied') note.textContent = P.t('composer.alerts_blocked');
    else note.textContent = P.t('composer.alerts_on');
    note.dataset.state = on ? 'on' : 'off';
  }

  async function toggleAlerts(ev) {
    const on = ev.target.checked;
    try { window.localStorage.setItem(KEY, on ? 'on' : 'off'); } catch (_) { /* private mode: this page only */ }
    if (on) {
      // Both need the agent's gesture: this click.
      try {
        audio = audio || new (window.AudioContext || window.webkitAudioContext)();
        if (audio.state === 'suspended') audio.resume();
      } catch (_) {
        audio = null;
      }
      if ('Notification' in window && Notification.permission === 'default') {
        try { await Notification.requestPermission(); } catch (_) { /* an old browser's callback form */ }
      }
    }
    showAlertState();
  }

  /** Two short tones, made here (no sound file). */
  function chime() {
    if (!audio) return;
    try {
      const now = audio.currentTime;
      for (const [i, freq] of [880, 1320].entries()) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = 'sine';
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, now + i * 0.16);
        gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.16 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.16 + 0.15);
        osc.connect(gain).connect(audio.destination);
        osc.start(now + i * 0.16);
        osc.stop(now + i * 0.16 + 0.16);
      }
    } catch (_) {
      // No sound is no harm: the offer is in Incoming.
    }
  }

  function alertOffers({ offers }) {
    const ids = new Set((offers || []).map((o) => (o.session && o.session.id) || o.id));
    const fresh = known === null ? [] : (offers || []).filter((o) => !known.has((o.session && o.session.id) || o.id));
    known = ids;
    if (!fresh.length || !alertsOn()) return;
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    chime();
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    const o = fresh[0];
    const body = fresh.length === 1
      ? P.t('composer.offer_body', { name: C.itemName(o), channel: (o.channel && o.channel.name) || '' })
      : P.t('composer.offer_body_many', { n: P.number(fresh.length) });
    try {
      const n = new Notification(P.t('composer.offer_title'), { body, tag: 'parley-offer', renotify: true });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch (_) {
      // Some browsers only notify from a service worker: the sound has played.
    }
  }

  // --- Wiring -------------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    if (!$('composer')) return;
    wirePicker();
    wireFiles();
    $('offer-alerts').addEventListener('change', toggleAlerts);
    showAlertState();
    C.on('select', ({ changed }) => {
      if (changed) {
        dropAttachment();
        closePicker(false);
      }
      loadRules();
    });
    C.on('deselect', () => dropAttachment());
    C.on('timeline', drawTicks);
    C.on('work', alertOffers);
  });
})();
