// Building DOM without innerHTML: every text goes in as text, so nothing the server or a user
// sends can become markup (and the page's CSP forbids inline script and style anyway).

type Child = Node | string | null | undefined | false
type Prop = string | number | boolean | null | undefined | ((event: Event) => void)

/**
 * `h('button', { type: 'button', onclick: go }, 'Roll')`. `class` sets the class; `on…` adds a
 * listener; `true` sets an empty attribute; `false`, null and undefined set nothing; `value` and
 * `checked` set the property.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Readonly<Record<string, Prop>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue
    if (typeof value === 'function') element.addEventListener(name.slice(2), value)
    else if (name === 'value') (element as HTMLInputElement).value = String(value)
    else if (name === 'checked') (element as HTMLInputElement).checked = value === true
    else element.setAttribute(name, value === true ? '' : String(value))
  }
  append(element, ...children)
  return element
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child)
  }
}

/** Removes every child, then appends these. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild !== null) parent.removeChild(parent.firstChild)
  append(parent, ...children)
}

let counter = 0
/** An id unique within the page, for label, aria-labelledby and aria-describedby references. */
export function uid(name: string): string {
  counter += 1
  return `pc-${name}-${counter}`
}

/** Text only assistive technology reads. */
export function hiddenText(text: string): HTMLSpanElement {
  return h('span', { class: 'pc-visually-hidden' }, text)
}

/** Elements a keyboard reaches with Tab, in order, inside `root`. */
export function focusables(root: ParentNode): HTMLElement[] {
  const selector =
    'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])'
  return [...root.querySelectorAll<HTMLElement>(selector)].filter(
    (element) =>
      !element.closest('[hidden]') &&
      element.getClientRects().length > 0 &&
      !isSkippedRadio(element, root),
  )
}

/** Tab stops on a radio group's checked button only (its first one when none is checked). */
function isSkippedRadio(element: HTMLElement, root: ParentNode): boolean {
  if (!(element instanceof HTMLInputElement) || element.type !== 'radio') return false
  if (element.checked) return false
  const group = [...root.querySelectorAll<HTMLInputElement>('input[type="radio"]')].filter(
    (radio) => radio.name === element.name,
  )
  return group.some((radio) => radio.checked) || group[0] !== element
}
