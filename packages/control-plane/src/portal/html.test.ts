import { describe, expect, it } from "vitest";
import { escapeHtml, html } from "./html.js";

describe("html", () => {
  it("escapes interpolated values but not nested templates", () => {
    const name = `<script>alert("x")</script>`;
    expect(html`<p>${name}</p>`.value).toBe("<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>");
    expect(html`<ul>${["a&b", html`<li>ok</li>`]}</ul>`.value).toBe("<ul>a&amp;b<li>ok</li></ul>");
    expect(html`${undefined}${null}${false}${0}`.value).toBe("0");
    expect(escapeHtml(`'"`)).toBe("&#39;&quot;");
  });
});
