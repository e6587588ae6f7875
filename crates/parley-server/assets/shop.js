// The host page's side of the widget: calls made before widget.js has loaded are queued in
// `Parley.q` and run when it arrives.
window.Parley = window.Parley || { q: [] };
window.Parley.q = window.Parley.q || [];
window.Parley.q.push(['setHiddenFields', { cart_total: '42.00' }]);

document.getElementById('chat').addEventListener('click', function () {
  if (typeof window.Parley.open === 'function') window.Parley.open();
  else window.Parley.q.push(['open']);
});
