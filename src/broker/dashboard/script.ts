/**
 * The dashboard's one script, served by the broker at {@link DASHBOARD_SCRIPT_PATH} (script-src 'self': no inline
 * code, no CDN, no build step). It only adds to pages that work without it:
 * - a Copy button after every `[data-copy]` element (a shown-once secret), copying its text to the clipboard and
 *   saying so in a status line;
 * - `confirm()` before a form with `data-confirm` is submitted (deactivate, replay): cancel and nothing is posted;
 * - live relative times: every `[data-relative-to]` element is re-rendered each second from that timestamp (ms) and the
 *   server's clock (`data-server-now` on <body>; in the sandbox it is the emulator's virtual clock, not the browser's).
 * {@link relativeTime} is the same wording, rendered on the server for readers without JavaScript.
 */

export const DASHBOARD_SCRIPT_PATH = '/assets/dashboard.js';

/**
 * "in 6 d 23 h 59 min 12 s", "2 d 3 h ago": to the second within 8 days (a countdown), else days and hours.
 * Self-contained on purpose: the script embeds its source, so the page and the server word it the same.
 */
export function relativeTime(atMs: number, nowMs: number): string {
  const countdownMs = 8 * 86_400_000;
  const delta = atMs - nowMs;
  let s = Math.floor(Math.abs(delta) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts =
    Math.abs(delta) >= countdownMs
      ? [`${d} d`, `${h} h`]
      : [d ? `${d} d` : '', d || h ? `${h} h` : '', d || h || m ? `${m} min` : '', `${s} s`];
  const text = parts.filter((p) => p !== '').join(' ');
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

export const DASHBOARD_SCRIPT = `'use strict';
(function () {
  ${relativeTime.toString()}

  // Live relative times, on the server's clock.
  var serverNow = Number(document.body.getAttribute('data-server-now'));
  var offset = isFinite(serverNow) && serverNow > 0 ? serverNow - Date.now() : 0;
  var timed = document.querySelectorAll('[data-relative-to]');
  function tick() {
    var now = Date.now() + offset;
    for (var i = 0; i < timed.length; i++) {
      var at = Number(timed[i].getAttribute('data-relative-to'));
      if (isFinite(at)) timed[i].textContent = relativeTime(at, now);
    }
  }
  if (timed.length) { tick(); setInterval(tick, 1000); }

  // Copy buttons beside shown-once secrets.
  function copyText(text, done) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(legacyCopy(text)); });
    } else done(legacyCopy(text));
  }
  function legacyCopy(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  var secrets = document.querySelectorAll('[data-copy]');
  for (var i = 0; i < secrets.length; i++) (function (el) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary copy';
    button.textContent = 'Copy';
    button.setAttribute('aria-label', 'Copy ' + (el.getAttribute('data-copy') || 'the secret'));
    var said = document.createElement('span');
    said.className = 'muted copied';
    said.setAttribute('role', 'status');
    button.addEventListener('click', function () {
      copyText(el.textContent, function (ok) {
        said.textContent = ok ? ' Copied to the clipboard.' : ' Could not copy: select it and copy by hand.';
        button.textContent = ok ? 'Copied' : 'Copy';
      });
    });
    el.insertAdjacentElement('afterend', said);
    el.insertAdjacentElement('afterend', button);
    el.insertAdjacentText('afterend', ' ');
  })(secrets[i]);

  // A confirm() before destructive forms.
  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
})();
`;
