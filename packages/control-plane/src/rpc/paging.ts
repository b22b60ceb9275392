/** Paging of in-memory lists the way the store pages its tables (`limit` 0..500). */
import { normalizePage, type Page, type PageRequest, toPage } from "../store/codec.js";

/** One page of `items`. */
export function pageOf<T>(items: readonly T[], request: PageRequest): Page<T> {
  const { offset, limit } = normalizePage(request);
  return toPage(items.slice(offset, offset + limit), items.length, offset, limit);
}

/** The same page with every entry mapped. */
export function mapPage<T, U>(page: Page<T>, map: (entry: T) => U): Page<U> {
  return { ...page, entries: page.entries.map(map) };
}
