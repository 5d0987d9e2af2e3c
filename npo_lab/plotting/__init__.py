"""Plot helpers. Each takes data and ``ax=None`` and returns the Axes; none calls ``plt.show()`` or ``savefig``.

``set_style()`` is the one explicit change of global matplotlib state. The helpers are grouped by topic:
``plotting.theory`` (toy dynamics, divergence, synthetic experiment), ``plotting.tofu`` (TOFU metrics),
``plotting.runs`` (unlearning runs over epochs); all are re-exported here. Numbers in titles and legends use
:func:`format_number` (3 significant digits); legends sit beside the data (:func:`legend_outside`).
"""

from .runs import *  # noqa: F401,F403
from .style import (  # noqa: F401
    OTHER_COLORS,
    PALETTE,
    base_method,
    format_number,
    label_color,
    legend_outside,
    method_color,
    reset_axes,
    set_style,
)
from .theory import *  # noqa: F401,F403
from .tofu import *  # noqa: F401,F403
