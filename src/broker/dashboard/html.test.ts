import { describe, expect, it } from 'vitest';
import { html, raw } from './html.js';

describe('html', () => {
  it('escapes interpolations, joins arrays and passes SafeHtml through', () => {
    const name = '<script>alert("x")</script>&\'';
    const out = html`<p title="${name}">${name}</p>${[html`<b>${'a<b'}</b>`, 'c>d']}${raw('<i>ok</i>')}${undefined}${false}`;
    expect(out.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p><b>a&lt;b</b>c&gt;d<i>ok</i>',
    );
  });
});
