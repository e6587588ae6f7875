// The agent console: incoming work, the agent's sessions, the conversation with the customer's whole
// history, the composer and the customer panel. State lives on the server; this script fetches it
// through the JSON API whenever the event stream says something changed (docs/console-api.md).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, when, duration, debounce, items } = P;
  const me = P.me || { id: '' };

  const state = {
    offers: [],
    sessions: [],
    selectedId: null,
    /** The WorkItem shown in the conversation view (from /me/work, or built from the session). */
    current: null,
    /** Whether the current session is still among this agent's sessions. */
    owned: false,
    timeline: [],
    user: null,
    /** The customer's contact and the session's case, as the side panel shows them. */
    contact: null,
    case: null,
    templates: [],
    analyzeSeq: 0,
    analysis: null,
    sending: false,
    /** The name of the flow holding the selected session, while its run is not over. */
    botOpen: null,
    /** The web visitor of the selected session (GET /sessions/{id}/visitor), or null. */
    visitor: null,
  };

  // --- Extension points ---------------------------------------------------------------------
  // The console's other scripts (console-notes.js, console-search.js, console-composer.js,
  // console-queue.js) add their parts through `Parley.console`: they read the selection and
  // listen for these moments instead of reaching into this file's state.
  //   select   {id, changed, owned}   a conversation is shown (after its session is known)
  //   deselect {}                     none is shown
  //   work     {offers, sessions}     the agent's offers and sessions were reloaded
  //   timeline {list, timeline}       the messages list was drawn (list: the <ol> element)
  //   side     {user, contact, case}  the customer panel was drawn
  const hooks = new Map();
  function emit(name, detail) {
    for (const fn of hooks.get(name) || []) {
      try {
        fn(detail);
      } catch (err) {
        window.console.error(err);
      }
    }
  }
  P.console = {
    on(name, fn) {
      if (!hooks.has(name)) hooks.set(name, []);
      hooks.get(name).push(fn);
    },
    /** The shown session's work item ({session, channel, messaging_user, ...}) or null. */
    current: () => state.current,
    selectedId: () => state.selectedId,
    /** Whether the shown session is one of this agent's own (and so may be written to). */
    owned: () => state.owned,
    timeline: () => state.timeline,
    user: () => state.user,
    contact: () => state.contact,
    /** Opens a session by id (any session the reader may see; read-only unless it is theirs). */
    select: (id) => select(id),
    refreshWork: () => refreshWork(),
    refreshTimeline: () => refreshTimeline(),
    refreshSide: () => refreshSide(),
    customerName: (mu) => customerName(mu),
    itemName: (item) => itemName(item),
    /** Counts the draft again (after a script changed the textarea). */
    analyze: () => analyzeNow(),
  };

  // Names of wire values, from the catalogue (`console.<group>_<value>`); an unknown value shows as
  // itself.
  const named = (group, v) => {
    if (!v) return '';
    const key = 'console.' + group + '_' + v;
    const text = P.t(key);
    return text === key ? v : text;
  };
  const STATUS_NAMES = new Proxy({}, { get: (_, v) => named('entry', v) });
  const SESSION_NAMES = new Proxy({}, { get: (_, v) => named('session', v) });
  const CASE_STATUS_NAMES = new Proxy({}, { get: (_, v) => named('case', v) });
  const CONSENT_NAMES = new Proxy({}, { get: (_, v) => (v ? named('consent', String(v).toLowerCase()) : undefined) });

  const kindName = (k) => named('kind', k);
  /**
   * A consent change's reason in the agent's language. The server stores the reason as words
   * (parley_core::consent::ChangeReason's Display): its two fixed forms are read back here; a note
   * someone wrote stays as written.
   */
  const KEYWORD_LISTS = { 'opt-out': 'opt_out', 'opt-in': 'opt_in', 'double opt-in': 'double_opt_in', help: 'help', custom: 'custom' };
  function consentReason(reason) {
    if (!reason) return '';
    if (reason === 'first inbound message on an implicit opt-in channel') return P.t('console.consent_reason_first_inbound');
    const m = /^(opt-out|opt-in|double opt-in|help|custom) keyword (\S+) \(([^)]+)\)$/.exec(reason);
    if (!m) return reason;
    return P.t('console.consent_reason_keyword', { list: P.t('console.keyword_list_' + KEYWORD_LISTS[m[1]]), keyword: m[2], language: m[3] });
  }
  /**
   * What to call the customer: their profile name; for the open web session's visitor, the name
   * they gave in the pre-chat form; a verified visitor's user id; an anonymous visitor as
   * "Visitor" and the end of their id (the full id is in the side panel).
   */
  const customerName = (mu) => {
    if (mu && mu.name) return mu.name;
    const v = state.visitor;
    const selectedUser = state.current && state.current.messaging_user;
    if (v && mu && selectedUser && mu.id === selectedUser.id) {
      const given = (name) => ((v.prechat || []).find((a) => a.name === name) || {}).value || '';
      const full = [given('first_name'), given('last_name')].filter(Boolean).join(' ').trim();
      if (full) return full;
    }
    const key = (mu && mu.platform_key) || '';
    if (key.startsWith('anon:')) return P.t('console.visitor_short', { id: key.slice(-6) });
    if (key.startsWith('uid:')) return key.slice(4);
    return key || P.t('console.customer');
  };
  const sessionOf = (item) => (item && item.session) || {};
  /** A work item's customer: the linked contact's name (the server's `customer_name`) first. */
  const itemName = (item) => (item && item.customer_name) || customerName(item && item.messaging_user);
  const isOpen = (status) => status !== 'ended' && status !== 'error';

  /**
   * A transcript event's words: a sensitive-data block (PRIV-03, "sensitive data blocked
   * (customer)") through the catalogue, anything else as a close's reason.
   */
  function eventNote(body) {
    const blocked = /^sensitive data blocked \((customer|agent|supervisor|bot)\)$/.exec(body);
    if (blocked) return P.t('sensitive_data.blocked.' + blocked[1]);
    return P.t('conversation.closed_note', { reason: body });
  }

  // --- Loading with coalescing ---------------------------------------------------------------

  /**
   * Runs `fn` soon, once, however many events ask for it; if it is already running, runs it again
   * when it finishes so the last event is never lost.
   */
  function coalesced(fn) {
    let timer = null;
    let running = false;
    let again = false;
    const run = async () => {
      timer = null;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await fn();
      } finally {
        running = false;
        if (again) {
          again = false;
          schedule();
        }
      }
    };
    const schedule = () => {
      if (!timer) timer = setTimeout(run, 40);
    };
    return schedule;
  }

  const refreshWork = coalesced(loadWork);
  const refreshTimeline = coalesced(loadTimeline);
  const refreshSide = coalesced(loadSide);
  const refreshBot = coalesced(loadBot);
  const refreshVisitor = coalesced(loadVisitor);

  // --- Work: offers and sessions ------------------------------------------------------------

  async function loadWork() {
    let work;
    try {
      work = await api('GET', '/api/v1/me/work');
    } catch (err) {
      showError(P.t('console.load_work_failed'), err);
      return;
    }
    state.offers = items(work && work.offers);
    state.sessions = items(work && work.sessions);
    renderOffers();
    renderSessions();
    if (state.selectedId) {
      const mine = state.sessions.find((w) => sessionOf(w).id === state.selectedId);
      if (mine) {
        state.current = mine;
        state.owned = true;
      } else if (state.owned) {
        // Transferred, ended or taken back: keep showing the history, read-only.
        state.owned = false;
        await refreshCurrentSession();
      }
      renderHeader();
      markReadIfSeen();
    }
    emit('work', { offers: state.offers, sessions: state.sessions });
  }

  function renderOffers() {
    const list = $('offers');
    clear(list);
    for (const offer of state.offers) {
      const s = sessionOf(offer);
      const accept = h('button', {
        type: 'button', class: 'primary small', 'data-testid': 'offer-accept', 'data-permission': 'send_receive',
        title: P.t('console.accept_title'), text: P.t('console.accept'),
        onclick: () => acceptOffer(s.id, accept),
      });
      const decline = h('button', {
        type: 'button', class: 'small', 'data-testid': 'offer-decline', text: P.t('console.decline'),
        onclick: () => declineOffer(s.id, decline),
      });
      const first = offer.first_message || offer.last_message || '';
      list.appendChild(h('li', {
        class: 'offer', 'data-testid': 'offer', dataset: { sessionId: s.id || '' },
      },
      h('div', { class: 'offer-head' },
        h('span', { class: 'chip kind-' + ((offer.channel && offer.channel.kind) || '') , text: kindName(offer.channel && offer.channel.kind) }),
        h('strong', { class: 'ellipsis', text: itemName(offer) }),
        h('span', { class: 'expires muted small', dataset: { expires: offer.offer_expires_at || '' } })),
      // AG-02: the customer's first message, visible before accepting (and in full on hover).
      h('p', { class: 'first-message', 'data-testid': 'offer-first-message', title: first, text: first || P.t('console.no_text') }),
      h('div', { class: 'offer-actions' }, accept, decline)));
    }
    $('offers-empty').hidden = state.offers.length > 0;
    const count = $('offer-count');
    count.hidden = state.offers.length === 0;
    count.textContent = P.number(state.offers.length);
    tickCountdowns();
    document.title = (state.offers.length ? '(' + P.number(state.offers.length) + ') ' : '') + P.t('console.title') + ' · Parley';
  }

  function renderSessions() {
    const list = $('sessions');
    clear(list);
    for (const item of state.sessions) {
      const s = sessionOf(item);
      const unread = Number(item.unread) || 0;
      const li = h('li', {
        class: 'session' + (unread ? ' has-unread' : ''), 'data-testid': 'session-item',
        dataset: { sessionId: s.id || '', status: s.status || '' },
        'aria-current': s.id === state.selectedId ? 'true' : null,
      },
      h('button', { type: 'button', class: 'session-button', onclick: () => select(s.id) },
        h('span', { class: 'session-line' },
          h('strong', { class: 'ellipsis', text: itemName(item) }),
          h('span', { class: 'muted small', title: P.exact(item.last_message_at), text: when(item.last_message_at) })),
        h('span', { class: 'session-line' },
          h('span', { class: 'ellipsis muted', text: item.last_message || '' }),
          unread ? h('span', { class: 'unread', 'data-testid': 'unread', 'aria-label': P.t('console.unread', { n: P.number(unread) }), text: P.number(unread) }) : null),
        h('span', { class: 'session-line small' },
          h('span', { class: 'chip kind-' + ((item.channel && item.channel.kind) || ''), text: kindName(item.channel && item.channel.kind) }),
          s.status && s.status !== 'active' ? h('span', { class: 'chip status-' + s.status, text: SESSION_NAMES[s.status] || s.status }) : null)));
      list.appendChild(li);
    }
    $('sessions-empty').hidden = state.sessions.length > 0;
  }

  async function acceptOffer(id, button) {
    if (!id) return;
    if (button) button.disabled = true;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/accept');
      await loadWork();
      select(id);
    } catch (err) {
      showError(P.t('console.accept_failed'), err);
      refreshWork();
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function declineOffer(id, button) {
    if (button) button.disabled = true;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/decline');
    } catch (err) {
      showError(P.t('console.decline_failed'), err);
    } finally {
      refreshWork();
    }
  }

  function tickCountdowns() {
    const now = Date.now();
    for (const el of document.querySelectorAll('.expires[data-expires]')) {
      const at = Date.parse(el.dataset.expires);
      if (Number.isNaN(at)) {
        el.textContent = '';
        continue;
      }
      el.textContent = at > now ? P.t('console.time_left', { time: duration(at - now) }) : P.t('console.expiring');
    }
    renderWindow();
  }

  // --- Selecting a conversation ---------------------------------------------------------------

  /** The session (and entry) the page's hash points at: `#session=<id>` or `#session=<id>&entry=<id>`. */
  function hashTarget() {
    const m = /^#session=([0-9a-fA-F-]{36})(?:&entry=([0-9a-fA-F-]{36}))?$/.exec(window.location.hash);
    return m ? { session: m[1], entry: m[2] || null } : null;
  }

  function select(id) {
    if (!id) return;
    const changed = id !== state.selectedId;
    state.selectedId = id;
    const mine = state.sessions.find((w) => sessionOf(w).id === id);
    state.owned = Boolean(mine);
    if (mine) state.current = mine;
    if (changed) {
      state.timeline = [];
      state.user = null;
      state.analysis = null;
      clear($('messages'));
      clear($('bot-runs'));
      $('bot-panel').hidden = true;
      state.botOpen = null;
      stopTyping();
      showVisitorTyping(false);
      state.visitor = null;
      $('visitor-panel').hidden = true;
      $('body').value = '';
      closePopovers();
      resetComponentDraft();
      // A link to an entry of this session (a search result) keeps its `&entry=` part.
      const linked = hashTarget();
      if (!linked || linked.session !== id) {
        window.history.replaceState(null, '', '#session=' + encodeURIComponent(id));
      }
    }
    for (const li of document.querySelectorAll('#sessions .session')) {
      if (li.dataset.sessionId === id) li.setAttribute('aria-current', 'true');
      else li.removeAttribute('aria-current');
    }
    $('no-conversation').hidden = true;
    $('conv').hidden = false;
    $('side').hidden = false;
    const ready = mine ? Promise.resolve() : refreshCurrentSession();
    ready.then(() => {
      renderHeader();
      refreshTimeline();
      refreshSide();
      refreshVisitor();
      refreshBot();
      if (changed) {
        analyzeNow();
        // The reply box takes the keys only when nothing else has them: a conversation opened
        // by the page's own loading must not pull an agent's typing out of the search box.
        const keys = document.activeElement;
        if (state.owned && (keys === $('body') || !P.isField(keys))) $('body').focus();
        loadTemplatesIfNeeded();
      }
      markReadIfSeen();
      emit('select', { id, changed, owned: state.owned });
    });
  }

  /** The selected session when it is not (or no longer) among the agent's work items. */
  async function refreshCurrentSession() {
    const id = state.selectedId;
    try {
      const session = await api('GET', '/api/v1/sessions/' + encodeURIComponent(id));
      const prev = state.current && sessionOf(state.current).id === id ? state.current : null;
      let channel = prev ? prev.channel : null;
      if (!channel && session.channel_id) {
        channel = await api('GET', '/api/v1/channels/' + encodeURIComponent(session.channel_id)).catch(() => ({ id: session.channel_id }));
      }
      state.current = Object.assign({}, prev || {}, {
        session,
        channel: channel || { id: session.channel_id },
        messaging_user: (prev && prev.messaging_user) || { id: session.messaging_user_id },
        care_window: prev ? prev.care_window : null,
      });
    } catch (err) {
      if (err instanceof P.ApiError && err.status === 404) {
        notify(P.t('console.session_gone'), 'error');
        deselect();
      } else {
        showError(P.t('console.load_session_failed'), err);
      }
    }
  }

  function deselect() {
    state.selectedId = null;
    state.current = null;
    $('conv').hidden = true;
    $('side').hidden = true;
    $('no-conversation').hidden = false;
    window.history.replaceState(null, '', window.location.pathname);
    emit('deselect', {});
  }

  function renderHeader() {
    const item = state.current;
    if (!item) return;
    const s = sessionOf(item);
    const channel = item.channel || {};
    $('conv-name').textContent = (item && item.customer_name) || customerName(state.user || item.messaging_user);
    $('conv-channel').textContent = [kindName(channel.kind), channel.name].filter(Boolean).join(' · ');
    $('conv-channel').className = 'chip kind-' + (channel.kind || '');
    const status = $('conv-status');
    status.textContent = SESSION_NAMES[s.status] || s.status || '';
    status.className = 'chip status status-' + (s.status || '');
    status.dataset.status = s.status || '';

    const open = isOpen(s.status);
    const notice = $('conv-notice');
    if (!state.owned) {
      notice.hidden = false;
      notice.textContent = !open
        ? P.t('console.notice_ended')
        : state.botOpen
          ? P.t('console.notice_bot', { bot: state.botOpen })
          : P.t('console.notice_not_yours', { status: SESSION_NAMES[s.status] || s.status });
    } else {
      notice.hidden = true;
    }
    for (const id of ['transfer-open', 'inactive', 'end']) $(id).disabled = !state.owned || !open;
    // Closing the conversation (SE-20): its owner, or a supervisor for anyone's.
    $('close-open').disabled = !open || !(state.owned || P.can('supervise'));
    $('inactive').hidden = s.status === 'inactive';
    renderWindow();
    renderComposerMode();
    renderStartPanel();
  }

  /** The WhatsApp care window: a chip while open, the template picker once closed. */
  function renderWindow() {
    const chip = $('conv-window');
    const win = state.current && state.current.care_window;
    if (!win || !win.state || win.state === 'none') {
      chip.hidden = true;
      return;
    }
    chip.hidden = false;
    chip.dataset.state = win.state;
    if (win.state === 'open') {
      const closes = Date.parse(win.closes_at || '');
      chip.textContent = Number.isNaN(closes)
        ? P.t('console.window_open')
        : P.t('console.window_open_closes', { time: duration(closes - Date.now()) });
      chip.className = 'chip window open';
    } else {
      chip.textContent = P.t('console.window_closed_chip');
      chip.className = 'chip window closed';
    }
  }

  function windowClosed() {
    const win = state.current && state.current.care_window;
    return Boolean(win && win.state === 'closed');
  }

  function renderComposerMode() {
    const s = sessionOf(state.current);
    const canWrite = state.owned && isOpen(s.status);
    const closed = windowClosed();
    $('composer').hidden = !canWrite || closed;
    $('template-form').hidden = !canWrite || !closed;
    if (canWrite && closed) loadTemplatesIfNeeded();
  }

  // --- Timeline -----------------------------------------------------------------------------

  async function loadTimeline() {
    const item = state.current;
    const userId = item && item.messaging_user && item.messaging_user.id;
    if (!userId) return;
    const forId = state.selectedId;
    let data;
    try {
      data = await api('GET', '/api/v1/messaging-users/' + encodeURIComponent(userId) + '/timeline');
    } catch (err) {
      showError(P.t('console.load_conversation_failed'), err);
      return;
    }
    if (forId !== state.selectedId) return;
    state.timeline = items(data, 'entries');
    renderMessages();
  }

  function actorLabel(entry) {
    if (entry.direction === 'inbound') return (state.current && state.current.customer_name) || customerName(state.user || (state.current && state.current.messaging_user));
    if (entry.actor === 'agent') return entry.actor_id && entry.actor_id === me.id ? P.t('console.actor_you') : P.t('console.actor_agent');
    if (entry.actor === 'bot') return P.t('console.actor_bot');
    if (entry.actor === 'system') return entry.campaign ? P.t('console.actor_campaign') : P.t('console.actor_automatic');
    return entry.actor || '';
  }

  function safeUrl(url) {
    try {
      const u = new URL(url, window.location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  // --- Components in the timeline: a question's options as chips, a link as a card -----------

  /** The entry's component when it is one this page knows how to show. */
  function componentOf(e) {
    const c = e && e.component;
    return c && typeof c === 'object' && (c.type === 'question' || c.type === 'time_slots' || c.type === 'link') ? c : null;
  }

  /** A question's options or a time selector's slots as {id, title}, in the order numbered. */
  function choicesOf(c) {
    const list = c.type === 'question' ? c.options : c.type === 'time_slots' ? c.slots : null;
    return (Array.isArray(list) ? list : []).map((o) => ({
      id: String((o && (c.type === 'time_slots' ? o.start : o.id)) ?? ''),
      title: String((o && o.title) ?? ''),
    }));
  }

  /** What the server does with a title in the numbered text: whitespace runs become one space. */
  const oneLine = (s) => String(s ?? '').split(/\s+/).filter(Boolean).join(' ');

  /**
   * The option a customer's reply names: its number ("2", what SMS customers type) or its title
   * (what a tap on WhatsApp or Messenger sends), compared without case. 1-based, or 0.
   */
  function chosenNumber(choices, reply) {
    const t = oneLine(reply);
    if (!t) return 0;
    if (/^[0-9]+$/.test(t)) {
      const n = Number(t);
      return n >= 1 && n <= choices.length ? n : 0;
    }
    const lower = t.toLocaleLowerCase();
    return choices.findIndex((ch) => oneLine(ch.title).toLocaleLowerCase() === lower) + 1;
  }

  /**
   * Which inbound entries answer a question: the customer's next message after a question sent
   * in the same session, whatever the agent wrote in between (another question takes over; a
   * refused one asked nothing). Reply entry id to {n, title}, and question entry id to n.
   */
  function answersOf(timeline) {
    const replies = new Map();
    const chosen = new Map();
    let asked = null;
    for (const e of timeline) {
      const c = componentOf(e);
      if (e.direction === 'outbound') {
        const failed = e.status === 'failed' || e.status === 'undelivered';
        if (c && c.type !== 'link' && !failed) asked = { entry: e, choices: choicesOf(c) };
        continue;
      }
      if (asked && asked.entry.session_id === e.session_id) {
        const n = chosenNumber(asked.choices, e.body);
        if (n) {
          replies.set(e.id, { n, title: asked.choices[n - 1].title });
          chosen.set(asked.entry.id, n);
        }
      }
      asked = null;
    }
    return { replies, chosen };
  }

  /** The bubble's content for a component: its text, then the options or the link card. */
  function componentContent(c, chosen) {
    if (c.type === 'link') {
      const href = safeUrl(c.url);
      return [
        h('span', { class: 'tag', text: P.t('console.link_card') }),
        h('p', { class: 'text', 'data-testid': 'message-text', text: c.text || '' }),
        h('div', { class: 'link-card', 'data-testid': 'message-link' },
          h('strong', { class: 'link-title', text: c.title || '' }),
          href
            ? h('a', { class: 'link-url', href, target: '_blank', rel: 'noopener noreferrer', text: c.url })
            : h('span', { class: 'link-url', text: c.url || '' })),
      ];
    }
    const choices = choicesOf(c);
    return [
      h('span', { class: 'tag', text: c.type === 'time_slots' ? P.t('console.time_slots') : P.t('console.question') }),
      h('p', { class: 'text', 'data-testid': 'message-text', text: c.text || '' }),
      h('ol', { class: 'choices', 'data-testid': 'message-options', 'aria-label': P.t('console.options_offered') },
        choices.map((ch, i) => h('li', {
          class: 'choice' + (chosen === i + 1 ? ' chosen' : ''), 'data-testid': 'message-option',
          dataset: { n: String(i + 1), optionId: ch.id }, 'aria-current': chosen === i + 1 ? 'true' : null,
        },
        h('span', { class: 'choice-n', text: (i + 1) + '.' }), ' ', ch.title))),
    ];
  }

  function renderMessages() {
    const list = $('messages');
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    clear(list);
    let lastSession = null;
    const answers = answersOf(state.timeline);
    for (const e of state.timeline) {
      if (e.session_id !== lastSession) {
        lastSession = e.session_id;
        const current = e.session_id === state.selectedId;
        list.appendChild(h('li', { class: 'divider' + (current ? ' current' : ''), role: 'separator' },
          h('span', { text: [
            current ? P.t('console.this_session') : P.t('console.earlier_session'),
            kindName(e.channel_kind),
            SESSION_NAMES[e.session_status] || e.session_status,
            when(e.created_at),
          ].filter(Boolean).join(' · ') })));
      }
      if (e.direction === 'note') {
        // An internal note or whisper (console-notes.js draws it): for agents, never sent.
        const note = P.console.noteItem ? P.console.noteItem(e) : null;
        if (note) list.appendChild(note);
        continue;
      }
      if (e.direction === 'event') {
        // A note of the session's history (a close's reason), never a message to anyone.
        list.appendChild(h('li', { class: 'event', 'data-testid': 'message-event', role: 'note', dataset: { sessionId: e.session_id || '' } },
          h('span', { text: eventNote(e.body || '') }),
          ' ',
          P.timeEl(e.created_at, when(e.created_at))));
        continue;
      }
      const status = e.status || '';
      const failed = status === 'failed' || status === 'undelivered';
      const errorText = e.error_text || e.error_message;
      const media = Array.isArray(e.media) ? e.media : [];
      const component = componentOf(e);
      const answer = answers.replies.get(e.id);
      list.appendChild(h('li', {
        class: 'message ' + (e.direction === 'inbound' ? 'in' : 'out') + ' actor-' + (e.actor || '') + (failed ? ' failed' : '')
          + (component ? ' component' : ''),
        'data-testid': 'message',
        dataset: { direction: e.direction || '', status, entryId: e.id || '', sessionId: e.session_id || '', ...(component ? { component: component.type } : {}) },
      },
      h('div', { class: 'bubble' },
        e.campaign ? h('span', { class: 'tag', 'data-testid': 'message-campaign', text: P.t('console.campaign_tag', { name: e.campaign }) }) : null,
        e.template ? h('span', { class: 'tag', text: P.t('console.template') }) : null,
        component
          ? componentContent(component, answers.chosen.get(e.id) || 0)
          : h('p', { class: 'text', 'data-testid': 'message-text', text: e.body || '' }),
        media.map((m) => {
          // Parley's own copy when it has one (web uploads have no public address).
          const href = m.id ? '/api/v1/media/' + encodeURIComponent(m.id) : safeUrl(m.url);
          const label = P.t('console.attachment', { type: m.content_type || P.t('console.file') });
          return href
            ? h('a', { class: 'media', href, target: '_blank', rel: 'noopener noreferrer', text: label })
            : h('span', { class: 'media', text: label });
        })),
      answer
        ? h('p', { class: 'chose', 'data-testid': 'message-choice', dataset: { n: String(answer.n) } },
          h('span', { class: 'chose-label', text: P.t('console.chose') }), h('strong', { text: answer.title }))
        : null,
      h('div', { class: 'meta' },
        h('span', { text: actorLabel(e) }),
        P.timeEl(e.created_at, when(e.created_at)),
        e.direction === 'outbound'
          ? h('span', { class: 'delivery status-' + status, 'data-testid': 'message-status', text: STATUS_NAMES[status] || status })
          : null),
      failed || e.error_code
        ? h('p', { class: 'error-text', 'data-testid': 'message-error', role: 'note' },
          P.problemText(errorText) || P.t('console.not_delivered'),
          e.error_code ? h('span', { class: 'code', text: ' ' + P.t('console.error_code', { code: e.error_code }) }) : null)
        : status === 'unknown'
          ? h('p', { class: 'error-text', 'data-testid': 'message-unknown', role: 'note',
            text: P.t('console.outcome_unknown') })
          : null,
      e.direction === 'outbound' && (status === 'unknown' || status === 'failed') && mayAnswerOutcome()
        ? h('div', { class: 'outcome-actions' },
          h('button', { type: 'button', class: 'link', 'data-testid': 'message-resend', dataset: { entryId: e.id || '', action: 'resend' },
            title: P.t('console.resend_title'), text: P.t('console.resend') }),
          status === 'unknown'
            ? h('button', { type: 'button', class: 'link', 'data-testid': 'message-mark-failed', dataset: { entryId: e.id || '', action: 'mark-failed' },
              text: P.t('console.mark_failed') })
            : null)
        : null));
    }
    if (nearBottom || list.dataset.scrolled !== state.selectedId) {
      list.scrollTop = list.scrollHeight;
      list.dataset.scrolled = state.selectedId || '';
    }
    emit('timeline', { list, timeline: state.timeline });
  }

  // Whoever may act on the session may settle a message whose outcome is unknown or resend a
  // failed one (the API checks the same): the agent working it, supervisors and admins.
  function mayAnswerOutcome() {
    const role = document.body.dataset.agentRole || '';
    return state.owned || role === 'supervisor' || role === 'admin';
  }

  async function answerOutcome(button) {
    const id = button.dataset.entryId;
    const action = button.dataset.action;
    if (!id || (action !== 'resend' && action !== 'mark-failed')) return;
    button.disabled = true;
    try {
      await api('POST', '/api/v1/messages/' + encodeURIComponent(id) + '/' + action);
      notify(action === 'resend' ? P.t('console.resent') : P.t('console.marked_failed'), 'info');
      refreshTimeline();
    } catch (err) {
      button.disabled = false;
      showError(action === 'resend' ? P.t('console.not_resent') : P.t('console.not_marked_failed'), err);
    }
  }

  async function markReadIfSeen() {
    const item = state.current;
    if (!item || !state.owned || document.visibilityState !== 'visible') return;
    if (!(Number(item.unread) > 0)) return;
    const id = sessionOf(item).id;
    item.unread = 0;
    renderSessions();
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/read');
    } catch (_) {
      // Only a marker; the next refresh shows it again if the server did not clear it.
    }
  }

  // --- Composer -----------------------------------------------------------------------------

  const analyzeSoon = debounce(analyzeNow, 250);

  /** Length, encoding and segments come from the server (parley-core), never computed here. */
  async function analyzeNow() {
    const item = state.current;
    const channelId = item && item.channel && item.channel.id;
    const counter = $('counter');
    if (!channelId) return;
    const body = $('body').value;
    const seq = ++state.analyzeSeq;
    let a;
    try {
      a = await api('POST', '/api/v1/compose/analyze', { channel_id: channelId, body });
    } catch (_) {
      if (seq === state.analyzeSeq) {
        state.analysis = null;
        counter.textContent = '';
        updateSendButton();
      }
      return;
    }
    if (seq !== state.analyzeSeq || !a) return;
    state.analysis = a;
    // SMS: encoding, messages and what is left in the current one (septets or UTF-16 units,
    // counted by parley-core); the exact count is in the title. Other channels: characters.
    const sms = Boolean(a.encoding);
    const gsm = a.encoding === 'GSM-7';
    counter.textContent = sms
      ? [P.t(gsm ? 'composer.encoding_gsm7' : 'composer.encoding_ucs2'),
        P.t(a.segments === 1 ? 'composer.messages_one' : 'composer.messages', { n: P.number(a.segments) }),
        P.t('composer.left', { n: P.number(a.units_remaining || 0) })].join(' · ')
      : P.number(a.characters) + ' / ' + P.number(a.limit);
    counter.title = sms
      ? P.t(gsm ? 'composer.title_septets' : 'composer.title_units', { units: P.number(a.units || 0), characters: P.number(a.characters), limit: P.number(a.limit) })
      : '';
    counter.dataset.characters = String(a.characters);
    counter.dataset.segments = a.segments === null || a.segments === undefined ? '' : String(a.segments);
    counter.dataset.encoding = a.encoding || '';
    counter.dataset.units = sms ? String(a.units) : '';
    counter.dataset.left = sms ? String(a.units_remaining) : '';
    counter.classList.toggle('over', a.ok === false);
    if (a.ok === false && problemText(a.error)) counter.textContent += ' · ' + problemText(a.error);
    updateSendButton();
  }

  /** An analysis's problem in words: `{code, message}` from the server (a string tolerated). */
  const problemText = P.problemText;

  function updateSendButton() {
    const empty = $('body').value.trim() === '';
    const refused = state.analysis && state.analysis.ok === false && !empty;
    $('send').disabled = state.sending || empty || Boolean(refused);
  }

  async function send(ev) {
    if (ev) ev.preventDefault();
    const textarea = $('body');
    const text = textarea.value;
    const item = state.current;
    if (!item || !state.owned || state.sending || text.trim() === '') return;
    if (state.analysis && state.analysis.ok === false) {
      notify(P.t('console.too_long'), 'error');
      return;
    }
    const id = sessionOf(item).id;
    state.sending = true;
    updateSendButton();
    stopTyping();
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/messages', { body: text });
      // Only clear what was sent: the agent may have kept typing while it went out.
      if (textarea.value === text) textarea.value = '';
      refreshTimeline();
      refreshWork();
    } catch (err) {
      showError(P.t('console.not_sent'), err);
    } finally {
      state.sending = false;
      analyzeNow();
      updateSendButton();
      textarea.focus();
    }
  }

  function wireComposer() {
    const textarea = $('body');
    $('composer').addEventListener('submit', send);
    textarea.addEventListener('keydown', (ev) => {
      // Enter sends; Shift+Enter is a new line; never interrupt an IME composition.
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        send();
      }
    });
    textarea.addEventListener('input', () => {
      updateSendButton();
      analyzeSoon();
      if (textarea.value.trim() === '') stopTyping();
      else typed();
    });
    textarea.addEventListener('blur', stopTyping);
    updateSendButton();
  }

  // --- Templates (care window closed) -------------------------------------------------------

  let templatesFor = null;

  async function loadTemplatesIfNeeded() {
    const channelId = state.current && state.current.channel && state.current.channel.id;
    if (!channelId || !windowClosed() || templatesFor === channelId) return;
    templatesFor = channelId;
    const select = $('template-select');
    clear(select);
    try {
      const data = await api('GET', '/api/v1/channels/' + encodeURIComponent(channelId) + '/templates');
      state.templates = items(data, 'templates').filter((t) => !t.status || t.status === 'approved');
    } catch (err) {
      templatesFor = null;
      state.templates = [];
      showError(P.t('console.load_templates_failed'), err);
    }
    for (const [i, t] of state.templates.entries()) {
      select.appendChild(h('option', { value: String(i), text: t.name + (t.language ? ' (' + t.language + ')' : '') }));
    }
    if (!state.templates.length) select.appendChild(h('option', { value: '', text: P.t('console.no_template') }));
    renderTemplateParams();
  }

  /** A template's variables in placeholder order, `{name, example}` each: those the admin
   * declared, else unnamed ones (labelled by number) for each placeholder of the body. */
  function templateParams(t) {
    const declared = Array.isArray(t.variables) ? t.variables : [];
    let count = typeof t.parameters === 'number' ? t.parameters : 0;
    if (!count) {
      const re = /\{\{\s*(\d+)\s*\}\}/g;
      let m;
      while ((m = re.exec(t.body || '')) !== null) count = Math.max(count, Number(m[1]));
    }
    return Array.from({ length: Math.max(count, declared.length) }, (_, i) => declared[i] || { name: '', example: '' });
  }

  function renderTemplateParams() {
    const box = clear($('template-params'));
    const t = state.templates[Number($('template-select').value)];
    if (!t) {
      clear($('template-preview'));
      $('template-send').disabled = true;
      return;
    }
    templateParams(t).forEach((v, i) => {
      const id = 'tp-' + i;
      const input = h('input', {
        id, type: 'text', class: 'template-param', 'data-testid': 'template-param', required: true,
        placeholder: v.example ? P.t('templates.for_example', { example: v.example }) : '',
        dataset: { name: v.name || String(i + 1) },
      });
      input.addEventListener('input', updateTemplatePreview);
      box.appendChild(h('div', { class: 'row' },
        h('label', { for: id, text: v.name || P.t('templates.variable_n', { n: i + 1 }) }), input));
    });
    updateTemplatePreview();
  }

  /** The preview as the customer will read it, filled in as the agent types; the send waits
   * until every variable has a value. */
  function updateTemplatePreview() {
    const t = state.templates[Number($('template-select').value)];
    const out = clear($('template-preview'));
    if (!t) return;
    const inputs = Array.from(document.querySelectorAll('.template-param'));
    const params = templateParams(t);
    const text = t.body || '';
    const re = /\{\{\s*(\d+)\s*\}\}/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      out.appendChild(document.createTextNode(text.slice(last, m.index)));
      const i = Number(m[1]) - 1;
      const typed = inputs[i] ? inputs[i].value.trim() : '';
      const label = params[i] && params[i].name ? params[i].name : P.t('templates.variable_n', { n: i + 1 });
      out.appendChild(h('mark', { class: typed ? 'filled' : 'empty', text: typed || '[' + label + ']' }));
      last = m.index + m[0].length;
    }
    out.appendChild(document.createTextNode(text.slice(last)));
    $('template-send').disabled = inputs.some((i) => i.value.trim() === '');
  }

  async function sendTemplate(ev) {
    ev.preventDefault();
    const t = state.templates[Number($('template-select').value)];
    if (!t || !state.current) return;
    const parameters = Array.from(document.querySelectorAll('.template-param')).map((i) => i.value);
    const id = sessionOf(state.current).id;
    $('template-send').disabled = true;
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/messages', {
        body: '', template: { name: t.name, language: t.language, parameters },
      });
      for (const i of document.querySelectorAll('.template-param')) i.value = '';
      refreshTimeline();
    } catch (err) {
      showError(P.t('console.template_not_sent'), err);
    } finally {
      updateTemplatePreview();
    }
  }

  // --- Quick text ---------------------------------------------------------------------------

  const searchQuickText = debounce(loadQuickText, 200);

  async function loadQuickText() {
    const q = $('qt-q').value.trim();
    const list = $('qt-list');
    let found = [];
    try {
      found = items(await api('GET', '/api/v1/quick-texts?q=' + encodeURIComponent(q)));
    } catch (err) {
      showError(P.t('console.load_quick_text_failed'), err);
    }
    clear(list);
    for (const qt of found.slice(0, 20)) {
      list.appendChild(h('li', null, h('button', {
        type: 'button', class: 'pick', 'data-testid': 'quick-text-item', onclick: () => insertQuickText(qt.body || ''),
      }, h('strong', { text: qt.title || '' }), h('span', { class: 'muted small ellipsis', text: qt.body || '' }))));
    }
    if (!found.length) list.appendChild(h('li', { class: 'muted small', text: q ? P.t('console.no_quick_text_match') : P.t('console.no_quick_text') }));
  }

  /** Inserts at the caret, keeping merge fields as they are: the server fills them on send. */
  function insertQuickText(text) {
    const ta = $('body');
    const start = ta.selectionStart ?? ta.value.length;
    const end = ta.selectionEnd ?? ta.value.length;
    ta.value = ta.value.slice(0, start) + text + ta.value.slice(end);
    const caret = start + text.length;
    closePopovers();
    ta.focus();
    ta.setSelectionRange(caret, caret);
    updateSendButton();
    analyzeSoon();
  }

  // --- Options and link cards (components) ---------------------------------------------------

  const MIN_OPTIONS = 2;
  const MAX_OPTIONS = 10;
  const draft = { kind: 'question', titles: ['', ''] };
  let componentSending = false;

  /** An option's id from its title: lower case, letters and digits joined by dashes. */
  function slug(title) {
    const dashed = oneLine(title).normalize('NFKD').replace(/\p{M}/gu, '').toLocaleLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-+|-+$/g, '');
    // By code points, so a letter outside the BMP is never cut in half.
    return Array.from(dashed).slice(0, 40).join('').replace(/-+$/, '');
  }

  /** Ids for the titles, unique: `option-3` for a title without letters, `yes-2` for a repeat. */
  function optionIds(titles) {
    const used = new Set();
    return titles.map((t, i) => {
      const base = slug(t) || 'option-' + (i + 1);
      let id = base;
      for (let n = 2; used.has(id); n += 1) id = base + '-' + n;
      used.add(id);
      return id;
    });
  }

  /** The component as written in the panel, with what still stops it from being sent. */
  function draftComponent() {
    const problems = [];
    if (draft.kind === 'link') {
      const text = $('card-text').value.trim();
      const title = oneLine($('card-title').value);
      const url = $('card-url').value.trim();
      if (!text) problems.push(P.t('console.problem_link_text'));
      if (!title) problems.push(P.t('console.problem_link_title'));
      if (!/^https?:\/\/[^\s/][^\s]*$/i.test(url)) problems.push(P.t('console.problem_url'));
      return { component: { type: 'link', text, title, url }, problems };
    }
    const text = $('opt-text').value.trim();
    const titles = draft.titles.map(oneLine);
    const ids = optionIds(titles);
    if (!text) problems.push(P.t('console.problem_question'));
    const empty = titles.findIndex((t) => !t);
    if (empty >= 0) problems.push(P.t('console.problem_option_empty', { n: empty + 1 }));
    if (titles.length < MIN_OPTIONS) problems.push(P.t('console.problem_min_options', { n: MIN_OPTIONS }));
    const seen = new Set();
    for (const t of titles) {
      const key = t.toLocaleLowerCase();
      if (t && seen.has(key)) {
        problems.push(P.t('console.problem_duplicate', { title: t }));
        break;
      }
      seen.add(key);
    }
    return {
      component: { type: 'question', text, options: titles.map((title, i) => ({ id: ids[i], title })) },
      problems,
    };
  }

  /** The numbered text SMS customers read, as the server writes it (`text_fallback`). */
  function smsText(c) {
    const lines = [];
    if (c.text.trim()) lines.push(c.text.trim());
    if (c.type === 'link') {
      if (oneLine(c.title)) lines.push(oneLine(c.title));
      lines.push(c.url.trim());
    } else {
      c.options.forEach((o, i) => lines.push((i + 1) + '. ' + (oneLine(o.title) || '…')));
    }
    return lines.join('\n');
  }

  let componentSeq = 0;
  const analyzeComponentSoon = debounce(analyzeComponent, 250);

  /** On SMS, the numbered text's length and segments, from the server like the reply counter's. */
  async function analyzeComponent() {
    const fit = $('opt-fit');
    const channel = state.current && state.current.channel;
    const seq = ++componentSeq;
    if (!channel || !channel.id || channel.kind !== 'sms' || $('opt-box').hidden || draftComponent().problems.length) {
      fit.textContent = '';
      return;
    }
    let a;
    try {
      a = await api('POST', '/api/v1/compose/analyze', { channel_id: channel.id, body: $('opt-preview').textContent });
    } catch (_) {
      if (seq === componentSeq) fit.textContent = '';
      return;
    }
    if (seq !== componentSeq || !a) return;
    const parts = [P.t('console.characters', { n: P.number(a.characters) })];
    if (a.segments !== null && a.segments !== undefined) parts.push(P.t(a.segments === 1 ? 'console.segment_one' : 'console.segments', { n: P.number(a.segments) }));
    if (a.encoding) parts.push(a.encoding);
    if (a.ok === false && problemText(a.error)) parts.push(problemText(a.error));
    fit.textContent = parts.join(' · ');
    fit.classList.toggle('over', a.ok === false);
  }

  function renderComponentPreview() {
    const { component, problems } = draftComponent();
    $('opt-preview').textContent = smsText(component);
    if (problems.length) {
      // Nothing to measure yet (an empty option reads "…" in the preview).
      componentSeq += 1;
      $('opt-fit').textContent = '';
    } else {
      analyzeComponentSoon();
    }
    $('opt-native').textContent = draft.kind === 'link'
      ? P.t('console.native_link')
      : P.t('console.native_note');
    $('opt-hint').textContent = problems[0] || '';
    $('opt-send').disabled = componentSending || problems.length > 0;
    const ids = optionIds(draft.titles.map(oneLine));
    for (const input of document.querySelectorAll('#opt-rows .option-title')) {
      const i = Number(input.dataset.index);
      input.title = draft.titles[i].trim() ? P.t('console.reply_id', { id: ids[i] }) : '';
    }
  }

  /** The option rows, built again only when rows come or go (typing keeps its focus). */
  function renderOptionRows(focusIndex) {
    const list = clear($('opt-rows'));
    draft.titles.forEach((title, i) => {
      list.appendChild(h('li', { class: 'option-row' },
        h('span', { class: 'choice-n', 'aria-hidden': 'true', text: (i + 1) + '.' }),
        h('input', {
          type: 'text', class: 'option-title', value: title, maxlength: '100', 'data-testid': 'component-option',
          'aria-label': P.t('console.option_n', { n: i + 1 }), placeholder: P.t('console.option_n', { n: i + 1 }), dataset: { index: String(i) },
        }),
        h('button', {
          type: 'button', class: 'small icon', 'data-testid': 'component-remove-option', dataset: { index: String(i) },
          'aria-label': P.t('console.remove_option', { n: i + 1 }), title: P.t('console.remove_option', { n: i + 1 }), text: '×',
          disabled: draft.titles.length <= MIN_OPTIONS,
        })));
    });
    $('opt-add').disabled = draft.titles.length >= MAX_OPTIONS;
    $('opt-add').textContent = draft.titles.length >= MAX_OPTIONS ? P.t('console.max_options', { n: MAX_OPTIONS }) : P.t('console.add_option');
    if (focusIndex !== undefined) {
      const input = list.querySelectorAll('.option-title')[focusIndex];
      if (input) input.focus();
    }
    renderComponentPreview();
  }

  function addOption(after) {
    if (draft.titles.length >= MAX_OPTIONS) return;
    const at = after === undefined ? draft.titles.length : after + 1;
    draft.titles.splice(at, 0, '');
    renderOptionRows(at);
  }

  function removeOption(i) {
    if (draft.titles.length <= MIN_OPTIONS || i < 0 || i >= draft.titles.length) return;
    draft.titles.splice(i, 1);
    renderOptionRows(Math.min(i, draft.titles.length - 1));
  }

  function setComponentKind(kind) {
    draft.kind = kind === 'link' ? 'link' : 'question';
    for (const r of document.querySelectorAll('input[name="opt-kind"]')) r.checked = r.value === draft.kind;
    $('opt-question').hidden = draft.kind !== 'question';
    $('opt-link').hidden = draft.kind !== 'link';
    showComponentError('');
    renderComponentPreview();
  }

  function showComponentError(message) {
    const box = $('opt-error');
    box.textContent = message;
    box.hidden = !message;
  }

  function resetComponentDraft() {
    draft.titles = ['', ''];
    for (const id of ['opt-text', 'card-text', 'card-title', 'card-url']) $(id).value = '';
    showComponentError('');
    renderOptionRows();
    setComponentKind('question');
  }

  function toggleComponents() {
    if (!$('opt-box').hidden) {
      closePopovers();
      $('body').focus();
      return;
    }
    openPopover($('opt-box'), $('opt-open'), () => {
      renderComponentPreview();
      $(draft.kind === 'link' ? 'card-text' : 'opt-text').focus();
    });
  }

  async function sendComponent() {
    const item = state.current;
    if (!item || !state.owned || componentSending) return;
    const { component, problems } = draftComponent();
    if (problems.length) {
      showComponentError(problems[0]);
      return;
    }
    const id = sessionOf(item).id;
    componentSending = true;
    showComponentError('');
    renderComponentPreview();
    try {
      // No body: the server writes the numbered text from the component.
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/messages', { component });
      if (state.selectedId === id) {
        resetComponentDraft();
        closePopovers();
        $('body').focus();
      }
      refreshTimeline();
      refreshWork();
    } catch (err) {
      const detail = err instanceof P.ApiError && err.code === 'csrf'
        ? P.t('common.csrf_stale')
        : String((err && err.message) || err).replace(/^not sent:\s*/i, '');
      showComponentError(P.t('console.not_sent_detail', { detail }));
      // A refusal by the channel's rules is recorded as a failed entry: show it.
      if (err instanceof P.ApiError && err.status === 422) refreshTimeline();
    } finally {
      componentSending = false;
      renderComponentPreview();
    }
  }

  function wireComponents() {
    $('opt-open').addEventListener('click', toggleComponents);
    $('opt-cancel').addEventListener('click', () => {
      closePopovers();
      $('body').focus();
    });
    $('opt-send').addEventListener('click', sendComponent);
    $('opt-add').addEventListener('click', () => addOption());
    for (const r of document.querySelectorAll('input[name="opt-kind"]')) {
      r.addEventListener('change', () => {
        if (r.checked) setComponentKind(r.value);
      });
    }
    $('opt-rows').addEventListener('input', (ev) => {
      const t = ev.target;
      if (!(t instanceof HTMLInputElement) || !t.classList.contains('option-title')) return;
      draft.titles[Number(t.dataset.index)] = t.value;
      renderComponentPreview();
    });
    $('opt-rows').addEventListener('click', (ev) => {
      const button = ev.target instanceof Element ? ev.target.closest('[data-testid="component-remove-option"]') : null;
      if (button) removeOption(Number(button.dataset.index));
    });
    for (const id of ['opt-text', 'card-text', 'card-title', 'card-url']) $(id).addEventListener('input', renderComponentPreview);
    $('opt-box').addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' || ev.isComposing) return;
      const t = ev.target;
      if (ev.ctrlKey || ev.metaKey) {
        ev.preventDefault();
        sendComponent();
        return;
      }
      // The panel lives in the reply form: Enter in a field must never send the reply.
      if (!(t instanceof HTMLInputElement) || t.type === 'radio') return;
      ev.preventDefault();
      if (t.classList.contains('option-title')) {
        // Enter in an option goes to the next one, adding it after the last.
        const i = Number(t.dataset.index);
        if (i < draft.titles.length - 1) $('opt-rows').querySelectorAll('.option-title')[i + 1].focus();
        else if (t.value.trim()) addOption(i);
      }
    });
    renderOptionRows();
  }

  // --- Popovers -----------------------------------------------------------------------------

  function openPopover(box, opener, onOpen) {
    closePopovers();
    box.hidden = false;
    opener.setAttribute('aria-expanded', 'true');
    if (onOpen) onOpen();
  }

  function closePopovers() {
    for (const [box, opener] of [['transfer-box', 'transfer-open'], ['qt-box', 'qt-open'], ['opt-box', 'opt-open'], ['close-box', 'close-open']]) {
      $(box).hidden = true;
      $(opener).setAttribute('aria-expanded', 'false');
    }
    for (const [box, opener] of [['end-confirm-box', 'end'], ['opt-out-confirm-box', 'opt-out']]) {
      $(box).hidden = true;
      $(opener).hidden = false;
    }
  }

  function toggleQuickText() {
    if (!$('qt-box').hidden) {
      closePopovers();
      return;
    }
    openPopover($('qt-box'), $('qt-open'), () => {
      $('qt-q').focus();
      loadQuickText();
    });
  }

  // --- Transfer, inactive, end ----------------------------------------------------------------

  const searchTargets = debounce(loadTransferTargets, 200);
  let queuesLoaded = false;

  async function loadTransferTargets() {
    const list = clear($('transfer-agents'));
    const q = $('transfer-q').value.trim();
    let agents = [];
    try {
      agents = items(await api('GET', '/api/v1/agents/transfer-targets?q=' + encodeURIComponent(q)), 'agents');
    } catch (err) {
      showError(P.t('console.load_agents_failed'), err);
    }
    agents = agents.filter((a) => a.id !== me.id);
    for (const a of agents) {
      list.appendChild(h('li', null, h('button', {
        type: 'button', class: 'pick', 'data-testid': 'transfer-target', dataset: { agentId: a.id },
        onclick: () => transfer({ agent_id: a.id }, a.name),
      }, h('span', { text: a.name || a.email || a.id }))));
    }
    if (!agents.length) list.appendChild(h('li', { class: 'muted small', text: P.t('console.no_agent_match') }));
  }

  async function loadTransferQueues() {
    if (queuesLoaded) return;
    const list = clear($('transfer-queues'));
    try {
      const queues = items(await api('GET', '/api/v1/queues?limit=100'));
      queuesLoaded = true;
      for (const q of queues) {
        list.appendChild(h('li', null, h('button', {
          type: 'button', class: 'pick', 'data-testid': 'transfer-queue', dataset: { queueId: q.id },
          onclick: () => transfer({ queue_id: q.id }, q.name),
        }, h('span', { text: q.name }))));
      }
    } catch (_) {
      list.appendChild(h('li', { class: 'muted small', text: P.t('console.no_queues') }));
    }
  }

  let flowsLoaded = false;

  /** Service flows (bots) as transfer targets: the bot takes the conversation at once. */
  async function loadTransferFlows() {
    if (flowsLoaded) return;
    const list = clear($('transfer-flows'));
    try {
      const flows = items(await api('GET', '/api/v1/flows')).filter((f) => f.context === 'service');
      flowsLoaded = true;
      for (const f of flows) {
        list.appendChild(h('li', null, h('button', {
          type: 'button', class: 'pick', 'data-testid': 'transfer-flow', dataset: { flowId: f.id },
          onclick: () => transfer({ flow_id: f.id }, f.name, true),
        }, h('span', { text: f.name }), f.description ? h('span', { class: 'muted small ellipsis', text: f.description }) : null)));
      }
      $('transfer-flows').hidden = flows.length === 0;
      $('transfer-flows-label').hidden = flows.length === 0;
    } catch (_) {
      // Bots are an extra: without them the picker still offers agents and queues.
      $('transfer-flows').hidden = true;
      $('transfer-flows-label').hidden = true;
    }
  }

  async function transfer(target, name, toBot) {
    const id = sessionOf(state.current).id;
    closePopovers();
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/transfer', target);
      notify(toBot
        ? P.t('console.handed_to_bot', { name })
        : P.t('console.transferred', { name }), 'info');
      watchHandOver(id);
    } catch (err) {
      showError(P.t('console.transfer_failed'), err);
    }
    refreshWork();
  }

  /**
   * After a transfer the session leaves this agent's list only when the target accepts (RT-09),
   * and that change is the new owner's event, not necessarily ours: look again every few seconds
   * until it is gone, for a bounded time.
   */
  function watchHandOver(id) {
    let left = 100;
    const tick = async () => {
      left -= 1;
      await loadWork();
      const still = state.sessions.some((w) => sessionOf(w).id === id);
      if (still && left > 0) setTimeout(tick, 3000);
    };
    setTimeout(tick, 3000);
  }

  async function sessionAction(action, doneText) {
    const id = sessionOf(state.current).id;
    closePopovers();
    try {
      await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/' + action);
      notify(doneText, 'info');
    } catch (err) {
      showError(action === 'end' ? P.t('console.end_failed') : P.t('console.inactive_failed'), err);
    }
    await loadWork();
    if (state.selectedId === id && !state.owned) {
      await refreshCurrentSession();
      renderHeader();
      refreshTimeline();
    }
  }

  /**
   * Close Conversation (SE-20): a reason picked from the list or typed, then a confirmation; every
   * open session of the customer's conversation ends and their next message starts a new one.
   */
  /**
   * Customer-record actions (opt-out, the contact's name, linking a contact or a case) need
   * send_receive like the rest of the desk: marked here so the page's permission rule hides them.
   */
  function markCustomerActions() {
    for (const id of ['opt-out', 'contact-name-form', 'link-form', 'case-current']) {
      const el = $(id);
      if (el) el.dataset.permission = 'send_receive';
    }
    const picker = document.querySelector('.case-picker');
    if (picker) picker.dataset.permission = 'send_receive';
  }

  function wireCloseConversation() {
    const T = P.t;
    const showOther = () => {
      const other = $('close-reason').value === 'other';
      $('close-other').hidden = !other;
      $('close-other-label').hidden = !other;
      if (other) $('close-other').focus();
    };
    $('close-open').addEventListener('click', () => {
      if (!$('close-box').hidden) {
        closePopovers();
        return;
      }
      openPopover($('close-box'), $('close-open'), () => {
        $('close-reason').value = 'resolved';
        $('close-other').value = '';
        showOther();
        $('close-reason').focus();
      });
    });
    $('close-reason').addEventListener('change', showOther);
    $('close-cancel').addEventListener('click', () => {
      closePopovers();
      $('close-open').focus();
    });
    $('close-box').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const picked = $('close-reason').value;
      const reason = picked === 'other'
        ? $('close-other').value.trim()
        : T('conversation.reason_' + picked);
      if (!reason) {
        notify(T('conversation.reason_required'), 'error');
        $('close-other').focus();
        return;
      }
      const id = sessionOf(state.current).id;
      $('close-confirm').disabled = true;
      try {
        await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/close-conversation', { reason });
        closePopovers();
        notify(T('conversation.closed'), 'info');
      } catch (err) {
        showError(T('conversation.close_failed'), err);
      } finally {
        $('close-confirm').disabled = false;
      }
      await loadWork();
      if (state.selectedId === id) {
        await refreshCurrentSession();
        renderHeader();
        refreshTimeline();
      }
    });
  }

  function wireActions() {
    $('transfer-open').addEventListener('click', () => {
      if (!$('transfer-box').hidden) {
        closePopovers();
        return;
      }
      openPopover($('transfer-box'), $('transfer-open'), () => {
        $('transfer-q').value = '';
        $('transfer-q').focus();
        loadTransferTargets();
        loadTransferQueues();
        loadTransferFlows();
      });
    });
    $('transfer-q').addEventListener('input', searchTargets);
    $('transfer-q').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        const first = document.querySelector('#transfer-agents .pick');
        if (first) first.click();
      }
    });
    $('inactive').addEventListener('click', () => sessionAction('inactive', P.t('console.marked_inactive')));
    $('end').addEventListener('click', () => {
      $('end').hidden = true;
      $('end-confirm-box').hidden = false;
      $('end-confirm').focus();
    });
    $('end-cancel').addEventListener('click', closePopovers);
    $('end-confirm').addEventListener('click', () => sessionAction('end', P.t('console.ended')));
    wireCloseConversation();
    markCustomerActions();
    $('qt-open').addEventListener('click', toggleQuickText);
    $('messages').addEventListener('click', (ev) => {
      const button = ev.target instanceof Element ? ev.target.closest('.outcome-actions button') : null;
      if (button) answerOutcome(button);
    });
    $('qt-q').addEventListener('input', searchQuickText);
    $('qt-q').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        const first = document.querySelector('#qt-list .pick');
        if (first) first.click();
      }
    });
    $('template-select').addEventListener('change', renderTemplateParams);
    $('template-form').addEventListener('submit', sendTemplate);
  }

  // --- Side panel: messaging user, consent, contact, case -----------------------------------

  function fact(dl, label, value) {
    if (value === undefined || value === null || value === '') return;
    dl.appendChild(h('dt', { text: label }));
    dl.appendChild(h('dd', { text: String(value) }));
  }

  async function loadSide() {
    const item = state.current;
    const userId = item && item.messaging_user && item.messaging_user.id;
    if (!userId) return;
    const forId = state.selectedId;
    let user;
    try {
      user = await api('GET', '/api/v1/messaging-users/' + encodeURIComponent(userId));
    } catch (err) {
      showError(P.t('console.load_customer_failed'), err);
      return;
    }
    if (forId !== state.selectedId) return;
    state.user = user;
    renderHeader();
    const facts = clear($('mu-facts'));
    fact(facts, P.t('console.fact_address'), user.platform_key);
    fact(facts, P.t('console.fact_name'), user.name);
    fact(facts, P.t('console.fact_channel'), item.channel && [kindName(item.channel.kind), item.channel.name].filter(Boolean).join(' · '));
    fact(facts, P.t('console.fact_locale'), user.locale);
    fact(facts, P.t('console.fact_known_since'), when(user.created_at));

    const consent = $('consent-status');
    consent.textContent = CONSENT_NAMES[user.consent_status] || P.t('console.no_consent');
    consent.className = 'chip consent-' + (user.consent_status || 'none');
    consent.dataset.status = user.consent_status || '';
    const history = clear($('consent-history'));
    for (const ev of (user.consent_history || []).slice().reverse()) {
      history.appendChild(h('li', null,
        h('strong', { text: CONSENT_NAMES[ev.to_status] || ev.to_status }),
        h('span', { class: 'muted small', text: ' · ' + [named('consent_source', ev.source), consentReason(ev.reason), when(ev.at)].filter(Boolean).join(' · ') })));
    }
    $('opt-out').disabled = user.consent_status === 'OptedOut';

    const contactFacts = clear($('contact-facts'));
    const s = sessionOf(item);
    state.contact = null;
    if (user.contact_id) {
      try {
        const c = await api('GET', '/api/v1/contacts/' + encodeURIComponent(user.contact_id));
        if (forId !== state.selectedId) return;
        state.contact = c;
        fact(contactFacts, P.t('console.fact_contact'), [c.first_name, c.last_name].filter(Boolean).join(' ') || P.t('console.unnamed_contact'));
        fact(contactFacts, P.t('console.fact_phone'), c.phone);
        fact(contactFacts, P.t('console.fact_email'), c.email);
      } catch (_) {
        fact(contactFacts, P.t('console.fact_contact'), user.contact_id);
      }
    } else {
      fact(contactFacts, P.t('console.fact_contact'), P.t('console.none_linked'));
    }
    renderContactName();
    state.case = null;
    if (s.case_id) {
      try {
        const c = await api('GET', '/api/v1/cases/' + encodeURIComponent(s.case_id));
        if (forId !== state.selectedId) return;
        state.case = c;
      } catch (_) {
        fact(contactFacts, P.t('console.fact_case'), s.case_id);
      }
    } else {
      fact(contactFacts, P.t('console.fact_case'), P.t('console.none'));
    }
    renderCase();
    renderStartPanel();
    emit('side', { user, contact: state.contact, case: state.case });
  }

  // --- Side panel: the bot's part (flow runs of this session) --------------------------------

  const TRIGGER_WORDS = new Proxy({}, { get: (_, v) => (v ? named('trigger', v) : undefined) });
  const RUN_WORDS = new Proxy({}, { get: (_, v) => (v ? named('run', v) : undefined) });

  /** "order_number" as "order number"; dotted webhook fields keep their dots. */
  const fieldLabel = (k) => String(k).replace(/_/g, ' ');
  /** What the flow asked for first, then what webhooks answered (`webhook.*`, `x.status`). */
  const fieldOrder = ([a], [b]) => (a.includes('.') - b.includes('.')) || (a < b ? -1 : a > b ? 1 : 0);
  const STEP_END_WORDS = new Proxy({}, { get: (_, v) => (typeof v === 'string' && ['handoff', 'end', 'start_flow'].includes(v) ? P.t('console.step_end_' + v) : undefined) });
  const definitions = new Map();

  /** How an ended run ended, in words, from the kind of step it stopped at (flows are cached). */
  async function endWords(r) {
    if (!definitions.has(r.flow)) {
      definitions.set(r.flow, api('GET', '/api/v1/flows/' + encodeURIComponent(r.flow)).then((f) => f.definition).catch(() => null));
    }
    const def = await definitions.get(r.flow);
    const step = def && Array.isArray(def.steps) ? def.steps.find((x) => x.id === r.step) : null;
    return (step && STEP_END_WORDS[step.type]) || P.t('console.ended_at', { step: r.step });
  }

  async function loadBot() {
    const id = state.selectedId;
    if (!id) return;
    let runs;
    try {
      runs = items(await api('GET', '/api/v1/sessions/' + encodeURIComponent(id) + '/flow-runs'));
    } catch (_) {
      // Only an addition to the panel: a session without it is still workable.
      return;
    }
    if (id !== state.selectedId) return;
    const box = clear($('bot-runs'));
    $('bot-panel').hidden = runs.length === 0;
    const live = runs.slice().reverse().find((r) => r.status !== 'ended');
    const botOpen = live ? live.flow : null;
    if (botOpen !== state.botOpen) {
      state.botOpen = botOpen;
      renderHeader();
    }
    const admin = (document.body.dataset.agentRole || '') === 'admin';
    // Newest first: the run that matters now is the last one started.
    const shown = runs.slice().reverse().slice(0, 3);
    const ends = await Promise.all(shown.map((r) => (r.status === 'ended' ? endWords(r) : null)));
    if (id !== state.selectedId) return;
    for (const [i, r] of shown.entries()) {
      const dl = h('dl', { class: 'facts' });
      dl.append(h('dt', { text: P.t('console.fact_flow') }), h('dd', null, admin
        ? h('a', { href: '/console/flows#flow/' + encodeURIComponent(r.flow), 'data-testid': 'bot-flow', text: r.flow })
        : h('span', { 'data-testid': 'bot-flow', text: r.flow })));
      fact(dl, P.t('console.fact_started_by'), TRIGGER_WORDS[r.trigger] || String(r.trigger || '').replace(/_/g, ' '));
      dl.append(h('dt', { text: P.t('console.status') }), h('dd', null, h('span', {
        class: 'chip run-' + (r.status || ''), 'data-testid': 'bot-status', text: ends[i] || RUN_WORDS[r.status] || r.status,
      }), ends[i] || !r.step ? null : h('span', { class: 'muted small', 'data-testid': 'bot-step' }, ' at step ', h('span', { class: 'mono', text: r.step }))));
      fact(dl, P.t('console.fact_started'), when(r.started_at));
      if (r.ended_at) fact(dl, P.t('console.fact_ended'), when(r.ended_at));
      const fields = Object.entries(r.fields || {}).sort(fieldOrder);
      box.appendChild(h('div', { class: 'bot-run', 'data-testid': 'bot-run' }, dl,
        fields.length
          ? h('table', { class: 'kv', 'data-testid': 'bot-fields', 'aria-label': P.t('console.bot_collected_label') },
            h('caption', { class: 'label', text: P.t('console.collected') }),
            h('tbody', null, fields.map(([k, v]) => h('tr', null,
              h('th', { scope: 'row', title: k, text: fieldLabel(k) }), h('td', { title: String(v) }, h('span', { class: 'clamp', text: String(v) }))))))
          : h('p', { class: 'muted small', text: P.t('console.nothing_collected') })));
    }
    if (runs.length > 3) box.appendChild(h('p', { class: 'muted small', text: (runs.length - 3) + ' earlier runs not shown.' }));
  }

  let contactsLoaded = false;

  async function loadContactChoices() {
    if (contactsLoaded) return;
    contactsLoaded = true;
    const select = $('link-contact');
    try {
      const contacts = items(await api('GET', '/api/v1/contacts?limit=200'));
      for (const c of contacts) {
        const label = [c.first_name, c.last_name].filter(Boolean).join(' ') || c.email || c.phone || c.id;
        select.appendChild(h('option', { value: c.id, text: label + (c.phone ? ' · ' + c.phone : '') }));
      }
      if (state.user && state.user.contact_id) select.value = state.user.contact_id;
    } catch (err) {
      contactsLoaded = false;
      showError(P.t('console.load_contacts_failed'), err);
    }
  }

  async function link(ev) {
    ev.preventDefault();
    const id = sessionOf(state.current).id;
    const contact = $('link-contact').value;
    if (!contact) {
      notify(P.t('console.choose_contact_to_link'), 'info');
      return;
    }
    try {
      const session = await api('POST', '/api/v1/sessions/' + encodeURIComponent(id) + '/link', { contact_id: contact });
      if (session && state.current) state.current.session = Object.assign({}, sessionOf(state.current), session);
      notify(P.t('console.linked'), 'info');
      refreshSide();
    } catch (err) {
      showError(P.t('console.link_failed'), err);
    }
  }

  // --- Side panel: the contact's name, edited in place -----------------------------------------

  /**
   * The contact's name, edited in place. Without a contact the same fields add one (MU-07: the
   * agent asks the customer's name): matched by the customer's number first, created otherwise.
   */
  function renderContactName() {
    const c = state.contact;
    const form = $('contact-name-form');
    const key = c ? c.id : 'new:' + ((state.user && state.user.id) || '');
    form.hidden = !state.user;
    if (!state.user) return;
    // Keep what the agent is typing when the panel refreshes under them.
    if (form.contains(document.activeElement) && form.dataset.contactId === key) return;
    form.dataset.contactId = key;
    $('contact-first').value = c ? c.first_name || '' : '';
    $('contact-last').value = c ? c.last_name || '' : '';
    $('contact-name-save').textContent = c ? P.t('console.save_name') : P.t('console.add_contact');
    $('contact-name-save').disabled = true;
  }

  function nameEdited() {
    const c = state.contact;
    const first = $('contact-first').value.trim();
    const last = $('contact-last').value.trim();
    $('contact-name-save').disabled = c
      ? first === (c.first_name || '') && last === (c.last_name || '')
      : !first && !last;
  }

  async function saveContactName(ev) {
    ev.preventDefault();
    const c = state.contact;
    const first = $('contact-first').value.trim();
    const last = $('contact-last').value.trim();
    try {
      if (c) {
        // The contacts API replaces the whole contact: send its phone and e-mail back unchanged.
        const body = { first_name: first, last_name: last, phone: c.phone || undefined, email: c.email || undefined };
        state.contact = await api('PUT', '/api/v1/contacts/' + encodeURIComponent(c.id), body);
        notify(P.t('console.name_saved'), 'info');
      } else {
        const userId = state.user && state.user.id;
        if (!userId) return;
        const match = { by_phone: true, create_when_missing: true, first_name: first, last_name: last };
        const linked = await api('PUT', '/api/v1/messaging-users/' + encodeURIComponent(userId) + '/contact', { match });
        notify(linked.linked_by === 'created' ? P.t('console.contact_added') : P.t('console.linked_by_number'), 'info');
      }
      $('contact-name-save').disabled = true;
      if (document.activeElement) document.activeElement.blur();
      refreshSide();
      // The header and the session list name the customer by the contact.
      refreshWork();
    } catch (err) {
      showError(c ? P.t('console.save_name_failed') : P.t('console.add_contact_failed'), err);
    }
  }

  // --- Side panel: the session's case and the case picker ----------------------------------------

  const caseLabel = (c) => (c.number ? P.t('console.case_number', { number: c.number }) : P.t('console.fact_case'));

  function renderCase() {
    const c = state.case;
    $('case-current').hidden = !c;
    $('case-search-label').textContent = c ? P.t('console.link_another_case') : P.t('console.link_case');
    if (!c) return;
    $('case-number').textContent = caseLabel(c);
    $('case-subject').textContent = c.subject || P.t('console.no_subject');
    const closed = c.status === 'closed';
    const select = $('case-status');
    select.value = c.status;
    select.dataset.status = c.status;
    // A closed case changes only by reopening it.
    select.disabled = closed;
    $('case-close').hidden = closed;
    $('case-reopen').hidden = !closed;
  }

  // `resultsFor`: the query the results answer (the text may have moved on since).
  const picker = { results: [], resultsFor: '', active: -1, seq: 0, query: '' };

  function pickerOptions() {
    const opts = picker.results.map((c) => ({ kind: 'case', c }));
    const q = picker.query;
    // A number finds a case; any other text may also become a new case's subject.
    if (q && !/^#?\d+$/.test(q)) opts.push({ kind: 'new', subject: q });
    return opts;
  }

  function renderPicker() {
    const list = clear($('case-results'));
    list.dataset.query = picker.resultsFor;
    const input = $('case-search');
    const opts = pickerOptions();
    const open = picker.query !== '' && document.activeElement === input;
    list.hidden = !open;
    input.setAttribute('aria-expanded', String(open));
    input.removeAttribute('aria-activedescendant');
    if (!open) return;
    if (!opts.length) {
      list.appendChild(h('li', { class: 'combo-empty', role: 'option', 'aria-disabled': 'true', text: P.t('console.no_case') }));
      return;
    }
    opts.forEach((o, i) => {
      const selected = i === picker.active;
      const li = o.kind === 'case'
        ? h('li', { id: 'case-opt-' + i, role: 'option', 'aria-selected': String(selected), 'data-testid': 'case-option' },
          h('span', { class: 'case-no', text: caseLabel(o.c) }),
          h('span', { text: o.c.subject || P.t('console.no_subject') }),
          h('span', { class: 'muted small', text: ' (' + (CASE_STATUS_NAMES[o.c.status] || o.c.status) + ')' }))
        : h('li', { id: 'case-opt-' + i, role: 'option', 'aria-selected': String(selected), 'data-testid': 'case-option-new' },
          P.t('console.create_case_before'), h('strong', { text: o.subject }), P.t('console.create_case_after'));
      // mousedown, not click: the input's blur would close the list before a click lands.
      li.addEventListener('mousedown', (ev) => { ev.preventDefault(); choose(o); });
      list.appendChild(li);
      if (selected) input.setAttribute('aria-activedescendant', li.id);
    });
  }

  const searchCases = debounce(async () => {
    const q = picker.query;
    const seq = ++picker.seq;
    if (!q) {
      picker.results = [];
      picker.resultsFor = '';
      renderPicker();
      return;
    }
    try {
      const found = items(await api('GET', '/api/v1/cases?limit=8&q=' + encodeURIComponent(q)));
      if (seq !== picker.seq) return;
      picker.results = found;
      picker.resultsFor = q;
      picker.active = found.length || pickerOptions().length ? 0 : -1;
      renderPicker();
    } catch (err) {
      showError(P.t('console.search_cases_failed'), err);
    }
  }, 200);

  function closePicker(clearText) {
    if (clearText) $('case-search').value = '';
    picker.query = clearText ? '' : picker.query;
    picker.results = clearText ? [] : picker.results;
    picker.resultsFor = clearText ? '' : picker.resultsFor;
    picker.active = -1;
    $('case-results').hidden = true;
    $('case-search').setAttribute('aria-expanded', 'false');
    $('case-search').removeAttribute('aria-activedescendant');
  }

  function pickerKey(ev) {
    const opts = pickerOptions();
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      if (!opts.length) return;
      ev.preventDefault();
      const step = ev.key === 'ArrowDown' ? 1 : -1;
      picker.active = (picker.active + step + opts.length) % opts.length;
      renderPicker();
      const li = $('case-opt-' + picker.active);
      if (li) li.scrollIntoView({ block: 'nearest' });
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      const o = opts[picker.active];
      if (o) choose(o);
    } else if (ev.key === 'Escape') {
      // The list first, then the text: the page's own Escape handling stays out of it.
      ev.stopPropagation();
      if (!$('case-results').hidden) closePicker(false);
      else closePicker(true);
    }
  }

  async function choose(o) {
    const session = sessionOf(state.current);
    if (!session.id) return;
    closePicker(true);
    try {
      if (o.kind === 'case') {
        const row = await api('POST', '/api/v1/sessions/' + encodeURIComponent(session.id) + '/link', { case_id: o.c.id });
        if (row && state.current) state.current.session = Object.assign({}, sessionOf(state.current), row);
        notify(P.t('console.linked_to', { name: caseLabel(o.c) }), 'info');
      } else {
        const c = await api('POST', '/api/v1/cases', { subject: o.subject, session_ids: [session.id] });
        if (state.current) state.current.session = Object.assign({}, sessionOf(state.current), { case_id: c.id });
        notify(P.t('console.created', { name: caseLabel(c) }), 'info');
      }
    } catch (err) {
      showError(o.kind === 'case' ? P.t('console.link_case_failed') : P.t('console.create_case_failed'), err);
    }
    refreshSide();
  }

  async function caseAction(path, method, body, what) {
    const c = state.case;
    if (!c) return;
    try {
      state.case = await api(method, '/api/v1/cases/' + encodeURIComponent(c.id) + path, body);
      renderCase();
    } catch (err) {
      showError(what, err);
      renderCase();
    }
  }

  function wireCase() {
    const input = $('case-search');
    input.addEventListener('input', () => {
      picker.query = input.value.trim();
      picker.active = -1;
      searchCases();
    });
    input.addEventListener('focus', () => { if (picker.query) renderPicker(); });
    input.addEventListener('blur', () => closePicker(false));
    input.addEventListener('keydown', pickerKey);
    $('case-status').addEventListener('change', (ev) => {
      caseAction('', 'PATCH', { status: ev.target.value }, P.t('console.status_failed'));
    });
    $('case-close').addEventListener('click', () => caseAction('/close', 'POST', undefined, P.t('console.close_case_failed')));
    $('case-reopen').addEventListener('click', () => caseAction('/reopen', 'POST', undefined, P.t('console.reopen_case_failed')));
    $('contact-first').addEventListener('input', nameEdited);
    $('contact-last').addEventListener('input', nameEdited);
    $('contact-name-form').addEventListener('submit', saveContactName);
  }

  async function optOut() {
    const userId = state.user && state.user.id;
    closePopovers();
    if (!userId) return;
    try {
      await api('POST', '/api/v1/messaging-users/' + encodeURIComponent(userId) + '/opt-out');
      notify(P.t('console.opted_out'), 'info');
    } catch (err) {
      showError(P.t('console.opt_out_failed'), err);
    }
    refreshSide();
    refreshWork();
    refreshTimeline();
  }

  /** AG-11/SE-10: a new conversation only after the last one ended, never to someone opted out. */
  function renderStartPanel() {
    const s = sessionOf(state.current);
    const optedOut = state.user && state.user.consent_status === 'OptedOut';
    $('start-panel').hidden = !state.current || isOpen(s.status) || Boolean(optedOut);
  }

  async function startConversation(ev) {
    ev.preventDefault();
    const body = $('start-body').value;
    const userId = state.current && state.current.messaging_user && state.current.messaging_user.id;
    if (!userId || !body.trim()) return;
    try {
      const item = await api('POST', '/api/v1/conversations', { messaging_user_id: userId, body });
      $('start-body').value = '';
      await loadWork();
      const id = item && sessionOf(item).id;
      if (id) select(id);
    } catch (err) {
      showError(P.t('console.start_failed'), err);
    }
  }

  function wireSide() {
    $('opt-out').addEventListener('click', () => {
      $('opt-out').hidden = true;
      $('opt-out-confirm-box').hidden = false;
      $('opt-out-confirm').focus();
    });
    $('opt-out-cancel').addEventListener('click', closePopovers);
    $('opt-out-confirm').addEventListener('click', optOut);
    $('link-contact').addEventListener('focus', loadContactChoices);
    $('link-contact').addEventListener('pointerdown', loadContactChoices);
    $('link-form').addEventListener('submit', link);
    wireCase();
    $('start-form').addEventListener('submit', startConversation);
  }

  // --- Web chat: the visitor panel and typing indicators (WEB-21, WEB-28) ---------------------

  /** How long a visitor's "typing" shows without a fresh event (their stop may be lost). */
  const VISITOR_TYPING_MS = 8000;
  /** The agent's typing: sent at most every 3 s while typing, and stopped after 5 s idle. */
  const TYPING_EVERY_MS = 3000;
  const TYPING_IDLE_MS = 5000;
  const typing = { sessionId: null, sentAt: 0, idle: null, shown: null };

  function webSession() {
    const item = state.current;
    return Boolean(item && item.channel && item.channel.kind === 'web' && state.owned && isOpen(sessionOf(item).status));
  }

  function postTyping(sessionId, on) {
    api('POST', '/api/v1/sessions/' + encodeURIComponent(sessionId) + '/typing', { typing: on }).catch(() => {
      // Only an indicator: a lost one is corrected by the next, or by the visitor's own timeout.
    });
  }

  function typed() {
    if (!webSession()) return;
    const id = state.selectedId;
    const now = Date.now();
    if (typing.sessionId !== id || now - typing.sentAt >= TYPING_EVERY_MS) {
      typing.sessionId = id;
      typing.sentAt = now;
      postTyping(id, true);
    }
    clearTimeout(typing.idle);
    typing.idle = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typing.idle);
    typing.idle = null;
    if (typing.sessionId) {
      postTyping(typing.sessionId, false);
      typing.sessionId = null;
      typing.sentAt = 0;
    }
  }

  function showVisitorTyping(on) {
    const el = $('visitor-typing');
    clearTimeout(typing.shown);
    el.hidden = !on;
    if (on) {
      el.textContent = P.t('console.typing', { name: customerName(state.user || (state.current && state.current.messaging_user)) });
      typing.shown = setTimeout(() => { el.hidden = true; }, VISITOR_TYPING_MS);
    }
  }

  async function loadVisitor() {
    const id = state.selectedId;
    if (!id) return;
    let data;
    try {
      data = await api('GET', '/api/v1/sessions/' + encodeURIComponent(id) + '/visitor');
    } catch (_) {
      // Not a web session the server knows of, or gone: no panel.
      data = null;
    }
    if (id !== state.selectedId) return;
    state.visitor = (data && data.visitor) || null;
    renderVisitor();
    if (state.visitor) {
      // The pre-chat name, once known, names the customer in the header and the messages.
      renderHeader();
      if (state.timeline.length) renderMessages();
    }
  }

  function renderVisitor() {
    const v = state.visitor;
    const panel = $('visitor-panel');
    panel.hidden = !v;
    if (!v) return;
    const facts = clear($('visitor-facts'));
    const identity = $('visitor-identity');
    identity.textContent = v.verified ? P.t('console.verified') : P.t('console.anonymous_visitor');
    identity.className = 'chip ' + (v.verified ? 'verified' : 'anonymous');
    identity.dataset.verified = v.verified ? 'true' : 'false';
    if (v.verified) fact(facts, P.t('console.fact_user_id'), v.identity);
    for (const a of v.prechat || []) fact(facts, a.label || a.name, a.value);
    if (v.page_url) {
      facts.appendChild(h('dt', { text: P.t('console.fact_page') }));
      facts.appendChild(h('dd', { class: 'page-url', 'data-testid': 'visitor-page' },
        v.page_link
          ? h('a', { href: v.page_link, target: '_blank', rel: 'noopener noreferrer', title: v.page_url, text: v.page_url })
          : h('span', { text: v.page_url })));
    }
    if (v.browser) {
      facts.appendChild(h('dt', { text: P.t('console.fact_browser') }));
      facts.appendChild(h('dd', { title: v.user_agent || '', 'data-testid': 'visitor-browser', text: v.browser }));
    }
    fact(facts, P.t('console.fact_deployment'), v.deployment_name);
    const earlier = clear($('visitor-earlier'));
    const sessions = v.earlier_sessions || [];
    $('visitor-earlier-h').hidden = sessions.length === 0;
    for (const s of sessions) {
      earlier.appendChild(h('li', null,
        h('a', { href: '#session=' + encodeURIComponent(s.id), text: when(s.started_at) }),
        h('span', { class: 'muted small', text: ' · ' + (SESSION_NAMES[s.status] || s.status) })));
    }
  }

  // --- Keyboard -----------------------------------------------------------------------------

  function wireKeyboard() {
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        const fromOptions = !$('opt-box').hidden;
        closePopovers();
        if (fromOptions) $('opt-open').focus();
        return;
      }
      if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        const ids = state.sessions.map((w) => sessionOf(w).id);
        if (!ids.length) return;
        const at = ids.indexOf(state.selectedId);
        const next = ev.key === 'ArrowDown' ? Math.min(ids.length - 1, at + 1) : Math.max(0, at < 0 ? 0 : at - 1);
        select(ids[next]);
      } else if (ev.code === 'KeyA') {
        ev.preventDefault();
        const first = state.offers[0];
        if (first && P.can('send_receive')) acceptOffer(sessionOf(first).id, null);
      } else if (ev.code === 'KeyQ' && !$('conv').hidden && !$('composer').hidden) {
        ev.preventDefault();
        toggleQuickText();
      } else if (ev.code === 'KeyO' && !$('conv').hidden && !$('composer').hidden) {
        ev.preventDefault();
        toggleComponents();
      }
    });
    document.addEventListener('click', (ev) => {
      const t = ev.target;
      // A control that removed itself (an option row's remove button) was inside a popover too.
      if (!(t instanceof Element) || !t.isConnected || t.closest('.popover-wrap') || t.closest('.confirm-wrap')) return;
      if (!$('transfer-box').hidden || !$('qt-box').hidden || !$('opt-box').hidden) closePopovers();
    });
  }

  // --- Live events --------------------------------------------------------------------------

  function touchesCurrent(sessionId) {
    return Boolean(sessionId) && (sessionId === state.selectedId || state.timeline.some((e) => e.session_id === sessionId));
  }

  P.on('offer', refreshWork);
  P.on('offer_withdrawn', (data) => {
    // Gone at once: the server has already taken it back.
    if (data && data.session_id) {
      state.offers = state.offers.filter((o) => sessionOf(o).id !== data.session_id);
      renderOffers();
    }
    refreshWork();
  });
  P.on('session', (data) => {
    refreshWork();
    if (data && touchesCurrent(data.session_id)) {
      if (state.current && data.status) state.current.session = Object.assign({}, sessionOf(state.current), { status: data.status });
      refreshTimeline();
      refreshBot();
    }
  });
  P.on('entry', (data) => {
    refreshWork();
    if (data && touchesCurrent(data.session_id)) {
      refreshTimeline();
      if (data.session_id === state.selectedId) refreshBot();
    }
  });
  P.on('resync', () => {
    refreshWork();
    if (state.selectedId) {
      refreshTimeline();
      refreshSide();
      refreshVisitor();
      refreshBot();
    }
  });
  P.on('typing', (data) => {
    // A replayed event after a reconnect may be long over: only recent ones count.
    if (!data || data.session_id !== state.selectedId) return;
    if (data.typing && typeof data.at === 'number' && Date.now() - data.at > VISITOR_TYPING_MS) return;
    showVisitorTyping(Boolean(data.typing));
  });
  P.on('entry', (data) => {
    // The visitor's message arrived: they have stopped typing it.
    if (data && data.session_id === state.selectedId && data.direction === 'inbound') showVisitorTyping(false);
  });

  document.addEventListener('visibilitychange', markReadIfSeen);

  // --- Start --------------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', async () => {
    wireComposer();
    wireComponents();
    wireActions();
    wireSide();
    wireKeyboard();
    setInterval(tickCountdowns, 1000);
    // A safety net only: events drive the lists, this catches one lost between reconnects.
    setInterval(refreshWork, 60000);
    await loadWork();
    const m = hashTarget();
    if (m) select(m.session);
    else if (state.sessions.length) select(sessionOf(state.sessions[0]).id);
    // A link to another session of this page (from a notification, the supervisor view, the
    // browser's history, a search result) changes only the hash: open that session without a
    // reload; a link to another entry of the shown one redraws it to show that entry.
    window.addEventListener('hashchange', () => {
      const to = hashTarget();
      if (!to) return;
      if (to.session !== state.selectedId) select(to.session);
      else if (to.entry) renderMessages();
    });
  });
})();
