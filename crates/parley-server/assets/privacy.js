// The Privacy page's tabs: requests (export, restriction, erasure), sensitive-data rules,
// retention and the audit log. Each panel is filled by its own script; this one only switches
// between them, opening the tab named in the address (#retention) or the first the person may use.
'use strict';

(function () {
  const tabs = [...document.querySelectorAll('#privacy-tabs [role="tab"]')];
  const allowed = (tab) => !tab.dataset.permission || window.Parley.can(tab.dataset.permission);

  function show(name) {
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute('aria-controls')).hidden = !on;
    }
    if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
    document.dispatchEvent(new CustomEvent('privacy:tab', { detail: name }));
  }

  for (const tab of tabs) {
    tab.addEventListener('click', () => show(tab.dataset.tab));
    tab.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
      const visible = tabs.filter(allowed);
      const i = visible.indexOf(tab) + (e.key === 'ArrowRight' ? 1 : -1);
      const next = visible[(i + visible.length) % visible.length];
      next.focus();
      show(next.dataset.tab);
    });
  }
  const asked = tabs.find((tab) => '#' + tab.dataset.tab === location.hash && allowed(tab));
  const first = asked || tabs.find(allowed);
  if (first) show(first.dataset.tab);
})();
