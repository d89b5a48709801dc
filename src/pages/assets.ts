/**
 * The pages' one stylesheet and one script, served by the Worker itself (GET /assets/…):
 * small enough that a second build and Workers Static Assets would cost more than they
 * save, and same-origin, so the Content-Security-Policy can stay 'self'.
 */
export const STYLES = `
:root { --fg:#1b1f24; --muted:#5b6470; --line:#dde1e6; --bg:#f7f8fa; --card:#fff; --accent:#2451d6; --bad:#b42318; --ok:#067647;
  font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif; color: var(--fg); background: var(--bg); }
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.5; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible { outline: 3px solid #8aa6f5; outline-offset: 2px; }
header.top { background: var(--card); border-bottom: 1px solid var(--line); }
header.top .bar { max-width: 1100px; margin: 0 auto; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
.brand { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--fg); margin-right: auto; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem .9rem; margin: 0; padding: 0; align-items: center; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: none; color: var(--fg); }
nav form { margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .6rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.1rem; margin-bottom: 1rem; }
.card > h2:first-child { margin-top: 0; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); margin-bottom: 1rem; }
.grid > .card { margin-bottom: 0; }
.grid.stats { grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); }
.stat .label { color: var(--muted); font-size: .9rem; }
.stat .value { font-size: 1.5rem; font-weight: 700; }
form.stack { display: grid; gap: .75rem; max-width: 420px; }
form.inline { display: flex; flex-wrap: wrap; gap: .5rem .75rem; align-items: end; }
label { display: grid; gap: .25rem; font-size: .92rem; }
input, select, textarea { font: inherit; padding: .5rem .6rem; border: 1px solid #b9c0c9; border-radius: 6px; background: #fff; min-width: 0; }
button, .button { font: inherit; padding: .5rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
.link-button { background: none; border: none; color: var(--accent); padding: 0; text-decoration: underline; }
.notice { padding: .7rem .9rem; border-radius: 8px; margin-bottom: 1rem; border: 1px solid; }
.notice.error { color: var(--bad); border-color: #f1b3ad; background: #fef3f2; }
.notice.ok { color: var(--ok); border-color: #a6e3c3; background: #ecfdf3; }
.table-wrap { overflow-x: auto; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; background: var(--card); font-size: .92rem; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .secret { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #0f1720; color: #e6edf3; padding: .8rem 1rem; border-radius: 8px; overflow-x: auto; font-size: .85rem; }
.secret { display: inline-block; word-break: break-all; background: #fff8e1; padding: .3rem .5rem; border-radius: 4px; }
.muted { color: var(--muted); }
.hero { padding: 2rem 0 1rem; } .hero p { font-size: 1.1rem; max-width: 46rem; }
figure.chart { margin: 0; } figure.chart > svg { width: 100%; height: auto; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; padding: 0; margin: .5rem 0 0; font-size: .85rem; }
.legend svg.swatch { vertical-align: -1px; }
form.grid-form { display: grid; gap: .75rem 1rem; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); align-items: end; }
form.grid-form .wide { grid-column: 1 / -1; }
label.check { display: flex; gap: .4rem; align-items: center; }
.tabs { display: flex; gap: .5rem; margin: 0 0 1rem; flex-wrap: wrap; }
.tabs a { padding: .3rem .8rem; border: 1px solid var(--line); border-radius: 999px; background: var(--card); text-decoration: none; }
.tabs a[aria-current="page"] { background: var(--accent); border-color: var(--accent); color: #fff; }
caption { text-align: left; font-weight: 600; padding: 1.2rem 0 .4rem; }
.actions { display: flex; gap: .4rem; align-items: center; }
.actions form { margin: 0; }
td.wrap { white-space: normal; min-width: 12rem; }
td.wrap.short { min-width: 6rem; }
.url { white-space: normal; overflow-wrap: anywhere; min-width: 12rem; max-width: 24rem; }
.small { font-size: .8rem; }
.qr svg { width: 200px; height: 200px; display: block; }
ul.codes { columns: 2; font-size: 1rem; padding-left: 1.2rem; }
#totp-key { overflow-wrap: anywhere; }
.spaced { margin: .75rem 0; }
.bad { color: var(--bad); }
footer { max-width: 1100px; margin: 0 auto; padding: 1rem; color: var(--muted); font-size: .85rem; }
@media (max-width: 640px) { h1 { font-size: 1.35rem; } .stat .value { font-size: 1.25rem; } main { padding-top: .75rem; } }
`;

/** Progressive enhancement only: every page works without it. */
export const SCRIPT = `
document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const text = document.getElementById(button.dataset.copy)?.textContent ?? '';
  try { await navigator.clipboard.writeText(text); button.textContent = button.dataset.copied || 'Copied'; } catch {}
});
document.addEventListener('submit', (event) => {
  const message = event.target.dataset?.confirm;
  if (message && !confirm(message)) event.preventDefault();
});
`;
