"""The flags panel words the safety-net flags and lists each image's warnings."""

from __future__ import annotations

from malaria_desktop.qt.summary_panel import Figures, SummaryPanel


def test_flags_panel_shows_plausibility_and_unlike_training_flags(qtbot) -> None:
    panel = SummaryPanel()
    qtbot.addWidget(panel)
    flags = ("hyperparasitaemia", "implausible_parasitemia", "images_unlike_training_data", "implausible_images")
    figures = Figures(cells=2500, parasitized=900, parasitemia_pct=36.0, parasites_per_ul=1.8e6, flags=flags)
    quality = ["f1.png: unlike_training_data: stain colour unlike the training data (nearest lab: nih)",
               "f2.png: random_noise: the image looks like random noise, not a blood smear; it was not analysed"]
    panel.update_figures(figures, None, target=2000, edits=0, quality=quality, settings={})
    text = panel.flags.text()
    assert "Parasitemia above 25 % is rarely real" in text
    assert "unlike the model&#x27;s training data" in text or "unlike the model's training data" in text
    assert "greyscale or noise" in text and "f1.png: unlike_training_data" in text and "f2.png: random_noise" in text
