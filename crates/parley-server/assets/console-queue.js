// Pick-from-queue: the waiting sessions of queues where agents take work themselves. Added to the agent console through `Parley.console` (console.js's extension points).
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
})();
