"""The page's side of accessibility: names, roles and keys that ipywidgets 8.1 gives no trait for.

What the widgets can say from Python, they say there: an image's text alternative is its
``tooltip`` (see ``base.DescribedImage``), a control's name its ``description`` or ``tooltip``, a
group's name its heading. Three things have no hook at all, and this script adds them in the page:

- a slider's handle (noUiSlider's ``<div role="slider">``) gets no accessible name: ipywidgets
  never passes noUiSlider's ``handleAttributes``, and a ``<label for>`` cannot name a div. The
  script names it from its widget's visible label (``description``) and ``tooltip``;
- an Accordion's titles are plain divs that only a mouse can open: the script makes each a
  button in the Tab order that Enter and Space open, and says whether it is expanded;
- boxes have no ARIA role: a box with the CSS class ``cnnviz-region`` becomes a region named by
  its first heading, and the dashboard itself the page's main landmark.

It runs again whenever widgets are added or changed (a MutationObserver), so panels built later
(the advanced panels, built when opened) are covered by the same rules.
"""
from __future__ import annotations

#: CSS class that turns a box into a labelled region (named by its first h1-h4).
REGION_CLASS = "cnnviz-region"

_SCRIPT = """
<script>
(function () {
  if (window.cnnvizAccessibility) { return; }
  window.cnnvizAccessibility = true;
  let counter = 0;
  const idOf = element => element.id || (element.id = 'cnnviz-a11y-' + (++counter));
  const set = (element, name, value) => {
    if (element.getAttribute(name) !== value) { element.setAttribute(name, value); }
  };
  function nameSliders() {
    document.querySelectorAll('.widget-slider [role=slider]').forEach(handle => {
      const label = handle.closest('.widget-slider').querySelector('.widget-label');
      if (!label) { return; }
      const text = label.textContent.trim();
      // ipywidgets writes a missing tooltip into the label's title as the word "null".
      const title = (label.getAttribute('title') || '').trim();
      const tip = title === 'null' ? '' : title;
      const name = text && tip && tip !== text ? text + ': ' + tip : (text || tip);
      if (name) { set(handle, 'aria-label', name); }
    });
  }
  function openAccordionsByKey() {
    document.querySelectorAll('.jupyter-widget-Collapse-header').forEach(header => {
      if (!header.dataset.cnnvizKeys) {
        header.dataset.cnnvizKeys = '1';
        header.tabIndex = 0;
        header.setAttribute('role', 'button');
        header.addEventListener('keydown', event => {
          if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); header.click(); }
        });
      }
      const item = header.parentElement;
      set(header, 'aria-expanded', String(item.classList.contains('jupyter-widget-Collapse-open')));
      const contents = item.querySelector(':scope > .jupyter-widget-Collapse-contents');
      if (contents) {
        set(header, 'aria-controls', idOf(contents));
        set(contents, 'role', 'region');
        set(contents, 'aria-labelledby', idOf(header));
      }
    });
  }
  function landmarks() {
    document.querySelectorAll('.cnnviz-dashboard').forEach(dashboard => set(dashboard, 'role', 'main'));
    document.querySelectorAll('.REGION_CLASS').forEach(region => {
      const heading = region.querySelector('h1, h2, h3, h4');
      set(region, 'role', 'region');
      if (heading) { set(region, 'aria-labelledby', idOf(heading)); }
    });
  }
  let pending = false;
  function apply() {
    pending = false;
    nameSliders();
    openAccordionsByKey();
    landmarks();
  }
  new MutationObserver(() => {
    if (!pending) { pending = true; requestAnimationFrame(apply); }
  }).observe(document.body, {childList: true, subtree: true, attributes: true,
                             attributeFilter: ['class', 'title']});
  apply();
})();
</script>
"""


def accessibility_support():
    """The script above as an output for the dashboard's notebook (``display(accessibility_support())``).

    >>> from IPython.display import display     # doctest: +SKIP
    >>> display(accessibility_support())        # doctest: +SKIP
    """
    from IPython.display import HTML

    return HTML(_SCRIPT.replace("REGION_CLASS", REGION_CLASS))
