"""``npo-lab student-notebooks OUT``: write the notebook series for students, every worked solution replaced by
a "your answer here" stub (:mod:`npo_lab.teaching`).

    npo-lab student-notebooks student/                 # from the checkout's notebooks/
    npo-lab student-notebooks student/ --source DIR    # from another directory of NN_name.ipynb notebooks
    npo-lab student-notebooks student/ --overwrite     # replace earlier copies
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("out", help="directory for the student copies (created if missing)")
    parser.add_argument("--source", help="directory of the notebooks (default: the checkout's notebooks/)")
    parser.add_argument("--overwrite", action="store_true", help="replace student copies already in OUT")


def run(args) -> int:
    from ..teaching import write_student_notebooks

    written = write_student_notebooks(args.out, args.source, overwrite=args.overwrite)
    for path, n in written:
        print(f"  {path}  ({n} solution(s) replaced by stubs)")
    print(f"wrote {len(written)} student notebook(s) to {args.out}")
    return 0
