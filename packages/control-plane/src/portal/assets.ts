/** The portal's only asset: its stylesheet (served same-origin; the CSP allows no inline styles). */

/** Path of the stylesheet below the portal assets path. */
export const PORTAL_STYLESHEET = "portal.css";

/** The portal stylesheet. */
export const PORTAL_CSS = `:root {
  color-scheme: light dark;
  --fg: #1b1f24;
  --muted: #57606a;
  --bg: #f6f8fa;
  --card: #ffffff;
  --border: #d0d7de;
  --accent: #0b5cad;
  --danger: #b42318;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  line-height: 1.5;
}
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9da7b3; --bg: #0d1117; --card: #161b22; --border: #30363d; --accent: #4493f8; --danger: #f85149; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
main { max-width: 32rem; margin: 3rem auto; padding: 2rem; background: var(--card); border: 1px solid var(--border); border-radius: 8px; }
h1 { font-size: 1.5rem; margin-top: 0; }
h2 { font-size: 1.1rem; }
p.muted, .muted { color: var(--muted); }
label { display: block; font-weight: 600; margin-top: 1rem; }
input[type="text"], input[type="password"] { width: 100%; padding: 0.5rem; margin-top: 0.25rem; font: inherit; border: 1px solid var(--border); border-radius: 6px; background: var(--bg); color: var(--fg); }
.actions { display: flex; gap: 0.75rem; margin-top: 1.5rem; }
button, a.button { font: inherit; padding: 0.5rem 1rem; border-radius: 6px; border: 1px solid var(--border); background: var(--bg); color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
button.primary, a.button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.error { color: var(--danger); border: 1px solid var(--danger); border-radius: 6px; padding: 0.5rem 0.75rem; }
ul.capabilities { padding-left: 1.25rem; }
ul.capabilities li { margin-bottom: 0.75rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em; }
`;
