// Internal notes and whispers in the conversation, and tags on the session and the contact. Added to the agent console through `Parley.console` (console.js's extension points).
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
})();
