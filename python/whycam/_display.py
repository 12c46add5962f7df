"""How results show in a notebook: ``Model.explain``'s list of explanations as their overlays."""

import base64
import html


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
