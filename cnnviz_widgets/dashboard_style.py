"""The dashboard's own style sheet: its layout, its focus rings and its narrow-screen rules."""

#: Layout rules of the whole page: a sticky side bar with the image picker and the layer
#: selector, and a main column that never scrolls sideways on a 1366-pixel-wide screen.
DASHBOARD_CSS = """
<style>
.cnnviz-dashboard {max-width: 1340px; box-sizing: border-box;}
/* position: sticky holds the side bar in view only if no box between it and the element that
   scrolls (Voilà's #rendered_cells, a notebook's own scroller) scrolls or clips itself; ipywidgets'
   boxes and Jupyter's output areas do (overflow auto or hidden), so those around the dashboard
   let their content overflow instead. */
.jp-OutputArea:has(.cnnviz-dashboard), .jp-OutputArea-child:has(.cnnviz-dashboard),
.jp-OutputArea-output:has(.cnnviz-dashboard), .output_subarea:has(.cnnviz-dashboard),
.cnnviz-dashboard, .cnnviz-dashboard .cnnviz-columns {overflow: visible !important;}
.cnnviz-sidebar {position: sticky; top: 0; align-self: flex-start; max-height: 100vh;
  overflow-y: auto; overflow-x: hidden; box-sizing: border-box;}
.cnnviz-sidebar .widget-inline-hbox, .cnnviz-sidebar .widget-hbox {max-width: 100%;}
/* A side bar taller than the window scrolls: its boxes must keep their height, not shrink to fit. */
.cnnviz-sidebar > *, .cnnviz-sidebar .widget-vbox > * {flex-shrink: 0;}
.cnnviz-main {overflow-x: hidden;}
.cnnviz-main .widget-image, .cnnviz-sidebar .widget-image {max-width: 100%;}
.cnnviz-section {border-top: 1px solid #ddd; padding-top: 6px; margin-bottom: 10px;}
.cnnviz-status {min-height: 1.5em;}
.cnnviz-status-error {color: #b71c1c; font-weight: 600;}
/* Every control shows where the keyboard is: ipywidgets' own style takes the ring off text boxes
   and lists (outline: none !important), hence the more specific second selector. */
.cnnviz-dashboard :focus-visible,
.cnnviz-dashboard .widget-inline-hbox :is(input, select, textarea):focus-visible {
  outline: 3px solid #0b57d0 !important; outline-offset: 2px;}
/* The accordion's titles: JupyterLab's grey on grey (about 3:1) raised to WCAG AA. */
.cnnviz-dashboard .jupyter-widget-Collapse-header {color: #1f1f1f; background: #ececec;}
.cnnviz-dashboard .jupyter-widget-Collapse-open > .jupyter-widget-Collapse-header {color: #1f1f1f;
  background: #dde7f7;}
/* A section on its way ("opening section …", set by the page's script): a line of progress, no
   longer a button to press. */
.cnnviz-dashboard .cnnviz-lazy-open-busy {background: transparent; box-shadow: none; color: #4a4a4a;
  cursor: progress; font-style: italic;}
.cnnviz-title {font-size: 1.5em; margin: 4px 0;}
.cnnviz-start {background: #f3f6fb; border: 1px solid #d5deeb; padding: 2px 10px 6px; margin-bottom: 8px;
  box-sizing: border-box;}
.cnnviz-start p {margin: 2px 0;}
.cnnviz-start .widget-html-content {line-height: 1.4;}
.cnnviz-exercises .widget-checkbox {width: 78px; flex: 0 0 auto;}
.cnnviz-exercises .widget-toggle-button {width: 92px; flex: 0 0 auto;}
.cnnviz-exercises .widget-hbox > .widget-html {flex: 1 1 auto; min-width: 0;}
.cnnviz-exercises .widget-html-content {line-height: 1.35; white-space: normal;}
.cnnviz-answer {margin: 2px 0 4px; padding-left: 8px; border-left: 3px solid #0b57d0;}
/* At 200 % zoom a 1366-pixel screen is 683 CSS pixels wide: the side bar goes above the panels
   and nothing is wider than the page, so it scrolls vertically only. */
@media (max-width: 900px) {
  .cnnviz-columns {flex-direction: column !important;}
  .cnnviz-sidebar {position: static; width: 100% !important; min-width: 0 !important;
    max-height: none; overflow: visible;}
  .cnnviz-dashboard .widget-image {max-width: 100%; height: auto !important;}
  .cnnviz-dashboard .widget-hbox {flex-wrap: wrap; max-width: 100%;}
  .cnnviz-dashboard .widget-slider {max-width: 100%;}
  .cnnviz-dashboard .bqplot {max-width: 100%;}
}
</style>
"""
