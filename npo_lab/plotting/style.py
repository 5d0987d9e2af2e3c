"""The one explicit style switch and the colours used for methods across every figure."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

# One colour per method, shared by every plot so that NPO is the same colour in notebook 01 and notebook 08.
PALETTE: dict[str, str] = {
    "GA": "#d62728",
    "GA+RT": "#ff7f0e",
    "GA+KL": "#e377c2",
    "IDK+RT": "#8c564b",
    "DPO": "#9467bd",
    "DPO+RT": "#7f3fbf",
    "DPO+KL": "#bcbd22",
    "NPO": "#1f77b4",
    "NPO+RT": "#2ca02c",
    "NPO+KL": "#17becf",
    "SimNPO": "#393b79",
    "finetuned": "#7f7f7f",
    "retain": "#000000",
}


def method_color(name: str) -> str:
    """The palette colour of a method (or a neutral grey for names not in the palette)."""
    return PALETTE.get(name, "#555555")


def set_style(context: str = "notebook", font_scale: float = 1.0) -> None:
    """Apply the package's plot style (seaborn whitegrid, readable fonts). The only global-state change."""
    import seaborn as sns

    sns.set_theme(context=context, style="whitegrid", font_scale=font_scale)
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.spines.top": False, "axes.spines.right": False})
    plt.rcParams["legend.frameon"] = False
