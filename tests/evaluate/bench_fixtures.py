"""Small benchmark files in each benchmark's published format, written by the tests themselves.

MMStar: the Hugging Face parquet (image struct, options inside the question) and VLMEvalKit's
TSV (base64 image, A–D columns, ``l2-category``). MathVista: ``testmini.json`` + image files.
MMMU: one validation parquet per subject folder, ``options`` as a Python list literal string.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def png(color: str = "red", size: tuple[int, int] = (64, 48), text: str = "") -> bytes:
    image = Image.new("RGB", size, color)
    if text:
        ImageDraw.Draw(image).text((4, 4), text, fill="black")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


MMSTAR_ROWS = [
    # index, question, answer, category, l2_category, color
    (0, "What is the main color of the image?\nOptions: A: red, B: green, C: blue, D: yellow", "A",
     "coarse perception", "image scene and topic", "red"),
    (1, "How many squares are drawn?\nOptions: A: 1, B: 2, C: 3, D: 4", "B",
     "fine-grained perception", "object counting", "green"),
    (2, "Which shape is on the left?\nOptions: A: circle, B: square, C: triangle, D: star", "C",
     "fine-grained perception", "localization", "blue"),
    (3, "What is 2 + 2 as shown in the figure?\nOptions: A: 3, B: 4, C: 5, D: 6", "B",
     "math", "numeric commonsense and calculation", "yellow"),
]


def write_mmstar_parquet(path: Path, rows: list[tuple] = MMSTAR_ROWS) -> Path:
    table = pa.table({
        "index": pa.array([r[0] for r in rows], pa.int64()),
        "question": [r[1] for r in rows],
        "image": pa.array([{"bytes": png(r[5]), "path": None} for r in rows], IMAGE_STRUCT),
        "answer": [r[2] for r in rows],
        "category": [r[3] for r in rows],
        "l2_category": [r[4] for r in rows],
        "meta_info": [{"source": "fixture", "split": "val"} for _ in rows],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_mmstar_tsv(path: Path, rows: list[tuple] = MMSTAR_ROWS, *, broken_image_index: int | None = None) -> Path:
    """VLMEvalKit layout: options also in A–D columns, base64 image, ``l2-category``."""
    cols: dict[str, list] = {k: [] for k in ("index", "question", "A", "B", "C", "D", "answer", "category",
                                            "l2-category", "image")}
    for index, question, answer, category, l2, color in rows:
        stem, _, opts = question.partition("\nOptions: ")
        parts = dict(p.split(": ", 1) for p in opts.split(", "))
        cols["index"].append(index)
        cols["question"].append(stem)
        for letter in "ABCD":
            cols[letter].append(parts[letter])
        cols["answer"].append(answer)
        cols["category"].append(category)
        cols["l2-category"].append(l2)
        data = b"not an image" if index == broken_image_index else png(color)
        cols["image"].append(base64.b64encode(data).decode())
    path.parent.mkdir(parents=True, exist_ok=True)
    pa_csv.write_csv(pa.table(cols), path, pa_csv.WriteOptions(delimiter="\t"))
    return path


MATHVISTA = {
    "1": {"question": "Which color is the biggest region?", "image": "images/1.png",
          "choices": ["red", "green", "blue"], "unit": None, "precision": None, "answer": "green",
          "question_type": "multi_choice", "answer_type": "text",
          "metadata": {"task": "figure question answering", "context": "bar chart", "source": "fixture"}},
    "2": {"question": "How many objects are there?", "image": "images/2.png", "choices": None, "unit": None,
          "precision": None, "answer": "4", "question_type": "free_form", "answer_type": "integer",
          "metadata": {"task": "visual question answering", "context": "synthetic scene"}},
    "3": {"question": "What is the length of the side AB?", "image": "images/3.png", "choices": None, "unit": "cm",
          "precision": 1, "answer": "1.2", "question_type": "free_form", "answer_type": "float",
          "metadata": {"task": "geometry problem solving", "context": "geometry diagram"}},
    "4": {"question": "List the two values shown.", "image": "images/4.png", "choices": None, "unit": None,
          "precision": None, "answer": "[2, 3]", "question_type": "free_form", "answer_type": "list",
          "metadata": {"task": "figure question answering", "context": "table"}},
}


def write_mathvista(root: Path, problems: dict | None = None, *, images: bool = True) -> Path:
    problems = problems if problems is not None else MATHVISTA
    (root / "images").mkdir(parents=True, exist_ok=True)
    if images:
        for i, pid in enumerate(problems):
            (root / "images" / f"{pid}.png").write_bytes(png(["red", "green", "blue", "white"][i % 4]))
    path = root / "testmini.json"
    path.write_text(json.dumps({pid: {**p, "pid": pid} for pid, p in problems.items()}, indent=1), encoding="utf-8")
    return path


MMMU_ROWS = {
    "Math": [
        {"id": "validation_Math_1", "question": "<image 1> What is the area of the square?",
         "options": "['4', '8', '16', '32']", "answer": "C", "question_type": "multiple-choice", "images": ["red"]},
        {"id": "validation_Math_2", "question": "Compare <image 1> and <image 2>. How many sides in total?",
         "options": "[]", "answer": "7", "question_type": "open", "images": ["green", "blue"]},
    ],
    "Art_Theory": [
        {"id": "validation_Art_Theory_1", "question": "Which style is shown in <image 1>?",
         "options": "['Baroque', 'Cubism', 'Impressionism']", "answer": "B", "question_type": "multiple-choice",
         "images": ["yellow"]},
    ],
}


def write_mmmu(root: Path, rows: dict | None = None) -> Path:
    for subject, items in (rows if rows is not None else MMMU_ROWS).items():
        cols: dict[str, list] = {k: [] for k in ("id", "question", "options", "explanation", "answer",
                                                "question_type", "subfield", "img_type", "topic_difficulty")}
        image_cols: dict[str, list] = {f"image_{i}": [] for i in range(1, 8)}
        for item in items:
            for key in ("id", "question", "options", "answer", "question_type"):
                cols[key].append(item[key])
            cols["explanation"].append("")
            cols["subfield"].append(subject)
            cols["img_type"].append("['Diagrams']")
            cols["topic_difficulty"].append("Easy")
            for i in range(1, 8):
                colors = item["images"]
                image_cols[f"image_{i}"].append({"bytes": png(colors[i - 1]), "path": None} if i <= len(colors) else None)
        table = pa.table({**cols, **{k: pa.array(v, IMAGE_STRUCT) for k, v in image_cols.items()}})
        (root / subject).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / subject / "validation-00000-of-00001.parquet")
    return root
