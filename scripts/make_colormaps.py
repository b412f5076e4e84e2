"""Write cnnviz_widgets/assets/colormaps.json: the colormap tables the renderer uses.

The tables are Matplotlib's (viridis, turbo, RdBu_r, and for the colour-vision-safe scheme
cividis and BuOr), resampled to 256 and 255 colours and rounded to uint8, so the package itself needs no
Matplotlib (Keras imports matplotlib.pyplot whenever it is installed, which costs the dashboard about half a second at start-up).
Run it with Matplotlib installed: ``python scripts/make_colormaps.py``.
"""
import json
from pathlib import Path

import matplotlib
import numpy as np

NAMES = ("viridis", "turbo", "RdBu_r", "cividis", "BuOr")
#: A blue–white–orange diverging map for signed values that colour-blind eyes tell apart (blue and
#: orange differ along the blue–yellow axis that red–green deficiencies keep): ColorBrewer's RdBu
#: blues, white, and ColorBrewer's PuOr oranges, both of similar lightness steps.
BUOR = ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
        "#fee0b6", "#fdb863", "#e08214", "#b35806", "#7f3b08")
SIZES = (256, 255)
OUT = Path(__file__).resolve().parents[1] / "cnnviz_widgets" / "assets" / "colormaps.json"


def table(name: str, n: int) -> str:
    if name == "BuOr":
        cmap = matplotlib.colors.LinearSegmentedColormap.from_list(name, BUOR, N=n)
    else:
        cmap = matplotlib.colormaps[name].resampled(n)
    return (cmap(np.arange(n))[:, :3] * 255 + 0.5).astype(np.uint8).tobytes().hex()


def main():
    data = {"source": f"matplotlib {matplotlib.__version__}, (rgb * 255 + 0.5) as uint8, hex per colour",
            "tables": {name: {str(n): table(name, n) for n in SIZES} for name in NAMES}}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
