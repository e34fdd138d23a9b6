/**
 * Rows in view only: `@tanstack/virtual-core` (framework-agnostic) bound to Preact's hooks, the
 * way its own React adapter binds it. The scroll element is the table's box; rows outside it
 * (plus an overscan) are not rendered, so a fleet of 1,000 clusters costs what 40 rows cost.
 */
import {
  elementScroll,
  observeElementOffset,
  observeElementRect,
  Virtualizer,
  type VirtualizerOptions,
} from "@tanstack/virtual-core";
import type { RefObject } from "preact";
import { useLayoutEffect, useReducer, useRef, useState } from "preact/hooks";

/** Rows rendered beyond each edge of the box, so a scroll shows rows already drawn. */
const OVERSCAN = 8;

export function useVirtualRows(
  count: number,
  rowPx: number,
): { box: RefObject<HTMLDivElement | null>; rows: Virtualizer<HTMLDivElement, HTMLTableRowElement> } {
  const box = useRef<HTMLDivElement>(null);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const options: VirtualizerOptions<HTMLDivElement, HTMLTableRowElement> = {
    count,
    getScrollElement: () => box.current,
    estimateSize: () => rowPx,
    scrollToFn: elementScroll,
    observeElementRect,
    observeElementOffset,
    overscan: OVERSCAN,
    // Before the box is measured, draw a screenful rather than nothing.
    initialRect: { width: 1280, height: 900 },
    onChange: () => rerender(0),
  };
  const [rows] = useState(() => new Virtualizer(options));
  rows.setOptions(options);
  useLayoutEffect(() => rows._didMount(), []);
  useLayoutEffect(() => {
    rows._willUpdate();
  });
  return { box, rows };
}
