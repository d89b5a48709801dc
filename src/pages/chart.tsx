import type { DayModelTotal } from '../db/usage-daily';
import { usd } from './format';

/**
 * The dashboard's usage chart, drawn on the server as SVG: bars by day stacked by model,
 * cost above and tokens below. No charting library: the one kind of chart, SVG needs no
 * script (so the page's CSP stays 'self' and the bundle gains nothing), and the numbers
 * come from D1's daily (or hourly) totals, never from rows shipped to the browser.
 */

const PALETTE = ['#2451d6', '#e8731a', '#1c9d6b', '#b83fb0', '#d4a20f', '#11899e', '#c7372f', '#6a6ed8'];
const W = 720;
const PANEL = 150;
const GAP = 40;
const LEFT = 72;

/** `days` are the bars' keys (days, or hours on the operator's 24-hour view); `tick` names one under its bar. */
export function UsageChart(props: {
  label: string; costLabel: string; tokensLabel: string; days: string[]; totals: DayModelTotal[]; tick?: (day: string) => string;
}) {
  const tick = props.tick ?? ((day: string) => day.slice(5));
  const { days, totals } = props;
  const models = [...new Set(totals.map((t) => t.model))].sort();
  const color = (m: string) => PALETTE[models.indexOf(m) % PALETTE.length];
  const byDay = new Map(days.map((d) => [d, totals.filter((t) => t.day === d)]));
  const step = (W - LEFT) / days.length;
  const panel = (top: number, metric: 'cost' | 'tokens', caption: string) => {
    const max = Math.max(1, ...days.map((d) => (byDay.get(d) ?? []).reduce((s, t) => s + t[metric], 0)));
    const show = (v: number) => (metric === 'cost' ? usd(Math.round(v)) : Math.round(v).toLocaleString('en-US'));
    return (
      <g>
        <text x={0} y={top - 8} font-size="12" fill="#5b6470">{caption}</text>
        <text x={LEFT - 6} y={top + 4} font-size="10" text-anchor="end" fill="#5b6470">{show(max)}</text>
        <text x={LEFT - 6} y={top + PANEL} font-size="10" text-anchor="end" fill="#5b6470">0</text>
        <line x1={LEFT} x2={W} y1={top + PANEL} y2={top + PANEL} stroke="#dde1e6" />
        {days.map((day, i) => {
          let y = top + PANEL;
          return (byDay.get(day) ?? []).filter((t) => t[metric] > 0).map((t) => {
            const h = (t[metric] / max) * PANEL;
            y -= h;
            return (
              <rect x={LEFT + i * step + step * 0.15} y={y} width={step * 0.7} height={Math.max(h, 0.5)} fill={color(t.model)}>
                <title>{`${day} · ${t.model}: ${show(t[metric])}`}</title>
              </rect>
            );
          });
        })}
      </g>
    );
  };
  const height = GAP + PANEL + GAP + PANEL + 24;
  const labelEvery = Math.ceil(days.length / 8);
  return (
    <figure class="chart">
      <svg role="img" aria-label={props.label} viewBox={`0 0 ${W} ${height}`} xmlns="http://www.w3.org/2000/svg">
        <desc>{models.map((m) => `${m}: ${usd(totals.filter((t) => t.model === m).reduce((s, t) => s + t.cost, 0))}`).join('; ')}</desc>
        {panel(GAP, 'cost', props.costLabel)}
        {panel(GAP + PANEL + GAP, 'tokens', props.tokensLabel)}
        {days.map((day, i) => i % labelEvery === 0 && (
          <text x={LEFT + i * step + step / 2} y={height - 6} font-size="10" text-anchor="middle" fill="#5b6470">{tick(day)}</text>
        ))}
      </svg>
      <ul class="legend">
        {models.map((m) => <li><svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" rx="2" fill={color(m)} /></svg> {m}</li>)}
      </ul>
    </figure>
  );
}
