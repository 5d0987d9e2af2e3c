"""An audit result as a table: one row per model, the headline columns (below the figure and the report)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["TABLE_COLUMNS", "audit_table"]

#: the headline columns of an audit table, in order
TABLE_COLUMNS = (
    "auc",
    "privleak",
    "extraction_strength",
    "forget_probability",
    "relearn_recovery",
    "quant8_forget_probability",
    "quant4_forget_probability",
    "paraphrase_probability",
)


def audit_table(result: Mapping, columns: Sequence[str] | None = TABLE_COLUMNS):
    """A ``pandas.DataFrame`` of an audit result: one row per model (index ``model``), the given columns present
    in the result (``None``: all)."""
    import pandas as pd

    df = pd.DataFrame.from_dict(dict(result["models"]), orient="index")
    df.index.name = "model"
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    return df
