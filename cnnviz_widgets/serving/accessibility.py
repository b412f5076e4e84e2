"""The page's side of accessibility: names, roles and keys that ipywidgets 8.1 gives no trait for.

What the widgets can say from Python, they say there: an image's text alternative is its
``tooltip`` (see ``base.DescribedImage``), a control's name its ``description`` or ``tooltip``, a
group's name its heading. Four things have no hook at all, and this script adds them in the page:

- a slider's handle (noUiSlider's ``<div role="slider">``) gets no accessible name: ipywidgets
  never passes noUiSlider's ``handleAttributes``, and a ``<label for>`` cannot name a div. The
  script names it from its widget's visible label (``description``) and ``tooltip``;
- an Accordion's titles are plain divs that only a mouse can open: the script makes each a
  button in the Tab order that Enter and Space open, and says whether it is expanded;
- an ``ipywidgets.Play``'s buttons show only an icon (play or pause, stop, repeat) and have no
  accessible name: the script names each from its icon, again as play turns into pause;
- boxes have no ARIA role: a box with the CSS class ``cnnviz-region`` becomes a region named by
  its first heading, and the dashboard itself the page's main landmark.

It runs again whenever widgets are added or changed (a MutationObserver), so panels built later
(the advanced panels, built when opened) are covered by the same rules.

One more thing it does for the student who scrolls: a section the dashboard builds only when it is
opened (``widgets.base.Deferred``: a "show section …" button named after its section, which keyboard users reach and
press like any other) is opened as it comes within a quarter of a screen of the visible part of the page, so
that scrolling down shows every section without a click.
"""
from __future__ import annotations

from ..widgets.base import DEFERRED_BUTTON_CLASS, DEFERRED_CLASS

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
  const PLAYER_ICONS = {'fa-play': 'play', 'fa-pause': 'pause', 'fa-stop': 'stop', 'fa-retweet': 'repeat'};
  function namePlayers() {
    document.querySelectorAll('.jupyter-widget-play > button, .widget-play > button').forEach(button => {
      const icon = button.querySelector('i');
      const kind = icon && Object.keys(PLAYER_ICONS).find(name => icon.classList.contains(name));
      if (kind) { set(button, 'aria-label', PLAYER_ICONS[kind]); set(button, 'title', PLAYER_ICONS[kind]); }
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
  // The box that scrolls the page: Voila's #rendered_cells, a notebook's panel, else the window.
  // An observer's margin widens its root only, not the boxes that clip in between, so the root
  // must be the box that scrolls.
  function scroller(element) {
    for (let box = element.parentElement; box; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowY;
      if ((overflow === 'auto' || overflow === 'scroll') && box.scrollHeight > box.clientHeight + 1) {
        return box;
      }
    }
    return null;
  }
  const observers = new Map();
  function nearObserver(root) {
    if (!observers.has(root)) {
      // A quarter of a screen ahead: built while the student scrolls to it, and not more: the
      // boxes not built yet are short, and a larger margin would reach every one of them.
      observers.set(root, new IntersectionObserver((entries, observer) => entries.forEach(entry => {
        if (!entry.isIntersecting) { return; }
        observer.unobserve(entry.target);
        const button = entry.target.querySelector('.DEFERRED_BUTTON_CLASS');
        if (button) { button.click(); }
      }), {root: root, rootMargin: '25% 0px'}));
    }
    return observers.get(root);
  }
  // A pressed "show section …" button (by the student or by the observer above) says at once that
  // the section is on its way, until the kernel's content takes its place: no button that looks
  // unanswered for the second the kernel takes to build a section.
  function opening(button) {
    if (button.getAttribute('aria-busy') === 'true') { return; }
    button.setAttribute('aria-busy', 'true');
    button.classList.add('DEFERRED_BUTTON_CLASS-busy');
    const icon = button.querySelector('i');
    if (icon) { icon.className = 'fa fa-spinner fa-spin'; }
    const text = Array.from(button.childNodes).find(node => node.nodeType === Node.TEXT_NODE);
    if (text) { text.textContent = text.textContent.replace(/^\\s*show /, ' opening ') + '…'; }
  }
  document.addEventListener('click', event => {
    const button = event.target.closest && event.target.closest('.DEFERRED_BUTTON_CLASS');
    if (button) { opening(button); }
  }, true);
  function openWhenNear() {
    document.querySelectorAll('.DEFERRED_CLASS').forEach(box => {
      if (!box.dataset.cnnvizNear) { box.dataset.cnnvizNear = '1'; nearObserver(scroller(box)).observe(box); }
    });
  }
  let pending = false;
  function apply() {
    pending = false;
    nameSliders();
    namePlayers();
    openAccordionsByKey();
    landmarks();
    openWhenNear();
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

    return HTML(_SCRIPT.replace("REGION_CLASS", REGION_CLASS).replace("DEFERRED_BUTTON_CLASS", DEFERRED_BUTTON_CLASS)
                .replace("DEFERRED_CLASS", DEFERRED_CLASS))
