/**
 * Renders a terminal screen, as `tmux capture-pane -e -p` prints it (SGR escape
 * sequences, one line per row), to an SVG image: `anser` parses the escapes,
 * each coloured run becomes a background rectangle and a <tspan>.
 */
import Anser from 'anser';

const CELL_W = 8.4;
const CELL_H = 18;
const FONT = 14;
/** Neovim's default dark Normal colours (NvimLightGrey2 on NvimDarkGrey2). */
const FG = '#e0e2ea';
const BG = '#14161b';

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const rgb = (c: string | null, fallback: string) => (c ? `rgb(${c})` : fallback);

/** One SVG document for the screen `ansi` (`cols` wide); `title` names it for screen readers. */
export function ansiToSvg(ansi: string, cols: number, title: string): string {
  const rows = ansi.replace(/\n$/, '').split('\n');
  // A cell to spare: fonts differ a little from CELL_W.
  const width = Math.ceil((cols + 1) * CELL_W);
  const height = rows.length * CELL_H;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="${BG}"/>`,
    `<g font-family="'DejaVu Sans Mono', Menlo, Consolas, monospace" font-size="${FONT}" xml:space="preserve">`,
  ];
  rows.forEach((row, y) => {
    let x = 0;
    const rects: string[] = [];
    const spans: string[] = [];
    for (const part of Anser.ansiToJson(row, { use_classes: false, remove_empty: true })) {
      const text = part.content;
      if (!text) continue;
      let fg = rgb(part.fg, FG);
      let bg = part.bg ? rgb(part.bg, BG) : undefined;
      if (part.decorations.includes('reverse')) [fg, bg] = [bg ?? BG, fg];
      const len = [...text].length;
      if (bg) {
        rects.push(
          `<rect x="${(x * CELL_W).toFixed(1)}" y="${y * CELL_H}" width="${(len * CELL_W).toFixed(1)}" height="${CELL_H}" fill="${bg}"/>`,
        );
      }
      const deco = part.decorations;
      const attrs = [
        `x="${(x * CELL_W).toFixed(1)}"`,
        `fill="${fg}"`,
        deco.includes('bold') ? 'font-weight="bold"' : '',
        deco.includes('italic') ? 'font-style="italic"' : '',
        deco.includes('underline') ? 'text-decoration="underline"' : '',
        deco.includes('dim') ? 'opacity="0.6"' : '',
      ].filter(Boolean);
      if (text.trim()) spans.push(`<tspan ${attrs.join(' ')}>${esc(text)}</tspan>`);
      x += len;
    }
    out.push(...rects);
    if (spans.length) out.push(`<text y="${y * CELL_H + 13}">${spans.join('')}</text>`);
  });
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}

/** The text an SVG made by ansiToSvg shows, row by row, each run at its column (for tests). */
export function svgText(svg: string): string[] {
  const unesc = (t: string) =>
    t
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&');
  return [...svg.matchAll(/<text [^>]*>(.*?)<\/text>/g)].map((m) => {
    let row = '';
    for (const s of m[1]!.matchAll(/<tspan x="([\d.]+)"[^>]*>(.*?)<\/tspan>/g)) {
      const col = Math.round(Number(s[1]) / CELL_W);
      row = row.padEnd(col) + unesc(s[2]!);
    }
    return row;
  });
}
