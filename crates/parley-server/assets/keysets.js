// Keysets (admins, issue 14, WEB-17/18): the public keys that sign verified visitors' tokens.
// A keyset has a name, the tokens' issuer, and keys uploaded ONE at a time by pasting a JWK
// object (an array is refused by the server), or a JWKS URL Parley fetches. Everything goes
// through /api/v1/keysets; every text from the server is put in the page as text (Parley.h).
'use strict';

(function () {
  const P = window.Parley;
  const { api, h, clear, $, notify, showError, items, ago } = P;
  const BASE = '/api/v1/keysets';

  function newForm() {
    const name = h('input', { id: 'ks-name', type: 'text', required: true, maxlength: 64, placeholder: 'Shop users' });
    const issuer = h('input', { id: 'ks-issuer', type: 'text', required: true, maxlength: 255, placeholder: 'https://www.example.com' });
    const url = h('input', { id: 'ks-url', type: 'url', placeholder: 'https://www.example.com/.well-known/jwks.json (optional)' });
    const form = h('form', { class: 'tok-new', 'data-testid': 'ks-new' },
      h('label', { for: 'ks-name', text: 'Name' }), ' ', name, ' ',
      h('label', { for: 'ks-issuer', text: 'Issuer (iss)' }), ' ', issuer, ' ',
      h('label', { for: 'ks-url', text: 'JWKS URL' }), ' ', url, ' ',
      h('button', { type: 'submit', class: 'primary' }, 'Create keyset'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', BASE, { name: name.value, issuer: issuer.value, jwks_url: url.value.trim() || null });
        notify('Keyset created', 'info');
        showList();
      } catch (e) {
        showError('Creating the keyset', e);
      }
    });
    return form;
  }

  function uploadForm(k) {
    const text = h('textarea', { rows: 5, 'data-testid': 'ks-jwk', 'aria-label': 'JWK to upload',
      placeholder: '{"kty": "RSA", "kid": "key-1", "alg": "RS256", "use": "sig", "n": "...", "e": "AQAB"}' });
    const error = h('p', { class: 'field-errors', 'data-testid': 'ks-jwk-error', hidden: true });
    const form = h('form', { class: 'admin-form' },
      text, error,
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', 'data-testid': 'ks-upload' }, 'Upload key')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      let jwk;
      try {
        jwk = JSON.parse(text.value);
      } catch (_) {
        error.textContent = 'This is not JSON: paste one JWK object.';
        error.hidden = false;
        return;
      }
      try {
        await api('POST', BASE + '/' + encodeURIComponent(k.id) + '/keys', jwk);
        notify('Key uploaded', 'info');
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
      notify('Key ' + kid + ' removed', 'info');
      showList();
    } catch (e) {
      showError('Removing the key', e);
    }
  }

  async function removeKeyset(k) {
    try {
      await api('DELETE', BASE + '/' + encodeURIComponent(k.id));
      notify(k.name + ' deleted', 'info');
      showList();
    } catch (e) {
      showError('Deleting the keyset', e);
    }
  }

  function card(k) {
    const keys = k.keys.length
      ? h('table', { class: 'grid' },
        h('thead', null, h('tr', null, ...['kid', 'Algorithm', 'Uploaded', ''].map((x) => h('th', { text: x })))),
        h('tbody', null, ...k.keys.map((key) => h('tr', { 'data-testid': 'ks-key' },
          h('td', null, h('code', { text: key.kid })),
          h('td', { text: key.alg }),
          h('td', { title: key.created_at, text: ago(key.created_at) }),
          h('td', null, h('button', { type: 'button', class: 'link', onclick: () => removeKey(k, key.kid) }, 'Remove'))))))
      : h('p', { class: 'empty', text: k.jwks_url ? 'No uploaded keys: the JWKS URL serves them.' : 'No keys yet.' });
    return h('section', { class: 'panel wide', 'data-testid': 'ks-card', 'data-name': k.name },
      h('div', { class: 'admin-head' }, h('h3', { text: k.name }),
        h('button', { type: 'button', class: 'danger', disabled: k.deployments.length > 0,
          title: k.deployments.length ? 'Used by ' + k.deployments.join(', ') : '', onclick: () => removeKeyset(k) }, 'Delete')),
      h('p', null, 'Issuer: ', h('code', { text: k.issuer })),
      k.jwks_url ? h('p', null, 'JWKS URL: ', h('code', { text: k.jwks_url })) : null,
      h('p', { class: 'muted', text: k.deployments.length ? 'Used by: ' + k.deployments.join(', ') : 'Not used by a deployment.' }),
      keys,
      h('h4', { text: 'Upload a public key' }),
      h('p', { class: 'hint', text: 'One JWK object per upload (not an array): RSA of at least 2048 bits with alg RS256, or EC P-256 with alg ES256; kid required; public parameters only.' }),
      uploadForm(k));
  }

  async function showList() {
    const box = $('ks-list');
    let list;
    try {
      list = items(await api('GET', BASE));
    } catch (e) {
      showError('Loading keysets', e);
      return;
    }
    clear(box);
    box.append(h('div', { class: 'admin-head' }, h('h2', { text: 'Keysets' }),
      h('a', { href: '/console/admin/web-deployments', text: 'Back to web chat deployments' })),
      h('p', { class: 'empty', text: 'Websites sign a token for their logged-in user (RS256 or ES256, with kid, iss = the keyset issuer, sub, exp); the widget presents it and Parley checks it with these keys.' }),
      newForm());
    if (!list.length) {
      box.append(h('p', { class: 'empty', text: 'No keysets yet.' }));
      return;
    }
    list.forEach((k) => box.append(card(k)));
  }

  document.addEventListener('DOMContentLoaded', showList);
})();
