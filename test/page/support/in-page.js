// Installed into every page of the API keys page suite (Playwright's addInitScript, through the
// DevTools protocol, so the page's own CSP still governs the page). Plain browser JavaScript:
// the test project's TypeScript has no DOM library. The tests call it as `portcullisTest.…`.
;(() => {
  const violations = []
  document.addEventListener('securitypolicyviolation', (event) => {
    violations.push(`${event.violatedDirective} ${event.blockedURI}`)
  })

  /** Whether `needle` is anywhere in the DOM: text, attributes, input values, shadow roots. */
  function domContains(needle) {
    const visit = (root) => {
      for (const element of root.querySelectorAll('*')) {
        if (typeof element.value === 'string' && element.value.includes(needle)) return true
        for (const attribute of element.attributes) {
          if (attribute.value.includes(needle)) return true
        }
        if (element.shadowRoot !== null && visit(element.shadowRoot)) return true
      }
      const text = root instanceof Document ? root.documentElement.textContent : root.textContent
      return text?.includes(needle) === true
    }
    return visit(document)
  }

  /** Everything in local and session storage, as one string. */
  function webStorage() {
    const dump = (storage) =>
      Array.from({ length: storage.length }, (_, i) => {
        const name = storage.key(i)
        return `${name}=${storage.getItem(name)}`
      })
    return [...dump(localStorage), ...dump(sessionStorage)].join('\n')
  }

  /** The deepest focused element (through shadow roots), described for the tests. */
  function focused() {
    let element = document.activeElement
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement
    if (element === null || element === document.body)
      return { tag: 'body', name: '', inDialog: false }
    return {
      tag: element.tagName.toLowerCase(),
      // Its aria-label, else its label's text (a field or radio button), else its text.
      name:
        element.getAttribute('aria-label') ??
        element.labels?.[0]?.textContent?.trim() ??
        element.textContent?.trim() ??
        '',
      inDialog: element.closest('dialog[open]') !== null,
    }
  }

  /** A call of the page's JSON API from inside the page: a forger holding this session. */
  async function call(method, path, body, headers) {
    const response = await fetch(new URL(`api/${path}`, location.href), {
      method,
      credentials: 'same-origin',
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    let parsed = {}
    try {
      parsed = await response.json()
    } catch {
      parsed = {}
    }
    return { status: response.status, body: parsed }
  }

  /**
   * axe-core's serious and critical violations on what the page shows now. No preload: axe
   * would parse stylesheets by inserting <style> elements, which the page's CSP (rightly)
   * blocks; the only rule it serves (css-orientation-lock) has nothing to check here.
   */
  async function axeFindings() {
    const results = await window.axe.run(document, { preload: false })
    return results.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => ({
        id: violation.id,
        impact: violation.impact,
        help: violation.help,
        targets: violation.nodes.map((node) => JSON.stringify(node.target)),
      }))
  }

  Object.defineProperty(window, 'portcullisTest', {
    value: Object.freeze({
      cspViolations: () => [...violations],
      domContains,
      webStorage,
      focused,
      call,
      axe: axeFindings,
    }),
  })
})()
