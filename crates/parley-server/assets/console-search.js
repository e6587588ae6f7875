// Search across conversations, and the agent's closed conversations. Added to the agent console through `Parley.console` (console.js's extension points).
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
})();
