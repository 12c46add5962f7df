"""How results show in a notebook: ``Model.explain``'s list of explanations as their overlays."""

import base64
import html
import io
import math

from . import _native


class Explanations(list):
    """What ``Model.explain`` returns: a plain ``list`` of :class:`whycam.Explanation` (indexing,
    slicing, unpacking as any list), which a notebook shows as a row of overlays with their
    image, method, class and probability (the first 64)."""

    shown = 64
    """How many overlays ``_repr_html_`` draws."""

    def _repr_html_(self):
        figures = []
        for e in self[: self.shown]:
            png = base64.b64encode(e._repr_png_()).decode("ascii")
            caption = html.escape(
                f"{e.image} · {e.method} · {e.target_label} ({e.probability:.3f})")
            figures.append(
                '<figure style="display:inline-block;margin:4px;text-align:center">'
                f'<img src="data:image/png;base64,{png}" style="max-width:224px;max-height:224px">'
                f'<figcaption style="font-size:small">{caption}</figcaption></figure>')
        if len(self) > self.shown:
            figures.append(f"<p>... and {len(self) - self.shown} more</p>")
        return "<div>" + "".join(figures) + "</div>"

    def _select(self, image, method):
        """The explanations of one image and one method (default: the first's), in order."""
        if not self:
            raise ValueError("no explanations to draw")
        image = self[0].image if image is None else image
        method = self[0].method if method is None else method
        chosen = [e for e in self if e.image == image and e.method == method]
        if not chosen:
            raise ValueError(f"no explanation of image {image!r} with method {method!r}")
        return chosen

    def figure_png(self, image=None, method=None, alpha=0.5, colormap="jet",
                   gray_background=False):
        """The titled figure ``whycam explain --figure`` writes as
        ``<stem>.<method>.figure.png``, as PNG bytes (byte for byte the command line's file for
        the same image and options): the image, titled with its name, beside the overlay of
        each of its targets, titled with the class and probability. ``image``: which image
        (as :attr:`Explanation.image` names it; default the first), ``method``: which method
        (default the first's)."""
        chosen = self._select(image, method)
        return _native.figure_png(chosen, _title(chosen[0].image), alpha, colormap,
                                  gray_background)

    def figure(self, image=None, method=None, alpha=0.5, colormap="jet", gray_background=False):
        """:meth:`figure_png` as a PIL image (needs Pillow)."""
        return _pil(self.figure_png(image, method, alpha, colormap, gray_background))

    def grid_png(self, rows=None, columns=None, method=None, alpha=0.5, colormap="jet",
                 gray_background=False):
        """The contact sheet ``whycam explain --grid ROWSxCOLUMNS`` writes as
        ``grid.<method>.png``, as PNG bytes: a tile per image (its first target's overlay,
        captioned ``label(probability)``), in order, for ``method`` (default the first's).
        ``columns`` defaults to the square root of the tile count rounded up, ``rows`` to what
        the tiles need; a grid holds at most 400 tiles (:class:`InvalidArgument` otherwise)."""
        method = self[0].method if method is None and self else method
        tiles, seen = [], set()
        for e in self:
            if e.method == method and (e.image, e.method) not in seen:
                seen.add((e.image, e.method))
                tiles.append(e)
        if not tiles:
            raise ValueError(f"no explanation with method {method!r}")
        columns = columns or math.ceil(math.sqrt(len(tiles)))
        rows = rows or math.ceil(len(tiles) / columns)
        return _native.grid_png(tiles, rows, columns, alpha, colormap, gray_background)

    def grid(self, rows=None, columns=None, method=None, alpha=0.5, colormap="jet",
             gray_background=False):
        """:meth:`grid_png` as a PIL image (needs Pillow)."""
        return _pil(self.grid_png(rows, columns, method, alpha, colormap, gray_background))


def _title(image):
    """A figure's title for an image, as the command line titles it: the file's stem, or the
    array's index."""
    if isinstance(image, str):
        name = image.rstrip("/").rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[0] if "." in name else name
    return f"image {image}"


def _pil(png):
    from PIL import Image  # noqa: PLC0415 - optional, only for PIL results

    picture = Image.open(io.BytesIO(png))
    picture.load()
    return picture
