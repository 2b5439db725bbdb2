"""Rules of operators/boilerplate.py on constructed minimal_html (resiliparse's
``preserve_formatting="minimal_html"`` shape): second copies of short blocks and trailing
notices. Each rule has its positive case, its negative cases and its length boundary."""

from __future__ import annotations

from operators import boilerplate as bp
from operators.boilerplate import Block, prune_minimal_html

PARA = ("The city council approved the new budget on Tuesday after a long debate about schools, roads and "
        "the future of public transport in the region. ")


def para(i: int) -> str:
    return f"<p>{PARA}Paragraph {i} adds detail on the vote and what happens next.</p>\n"


NOTICE = ("© 2024 Example Media Group. All rights reserved. No part of this site may be reproduced, "
          "distributed or transmitted in any form without the prior written permission of the publisher, "
          "except for brief quotations in reviews. Contact the licensing desk for reprints, syndication and "
          "permissions; see the terms of use for the rules that apply to every reader of this site.")


# --- second copies of short blocks --------------------------------------------------------


def test_second_copy_of_a_headline_is_dropped():
    html = "<h2>Council passes the budget</h2>\n" + para(0) + "<h2>Council passes the budget</h2>\n" + para(1)
    text = prune_minimal_html(html)
    assert text.count("Council passes the budget") == 1
    assert text.startswith("Council passes the budget")
    assert "Paragraph 0" in text and "Paragraph 1" in text


def test_second_copy_of_a_short_prompt_is_dropped():
    prompt = "<p>Get the morning briefing in your inbox, five days a week</p>\n"
    html = para(0) + prompt + para(1) + para(2) + prompt + para(3)
    assert prune_minimal_html(html).count("morning briefing") == 1


def test_copy_right_after_its_twin_stays():
    # One element marked up twice (a heading holding the paragraph's text, then the paragraph):
    # dropping the copy would leave headings with no text under them and lose the article.
    sents = [f"Sentence {i} of the story says what the council decided about road repairs." for i in range(4)]
    html = "".join(f"<h3>{s}</h3>\n{s}\n" for s in sents)
    text = prune_minimal_html(html)
    assert all(text.count(s) == 2 for s in sents)


def test_repeated_long_paragraph_and_list_items_stay():
    html = para(0) + para(1) + para(0) + "<ul><li>Schools and roads</li><li>Schools and roads</li></ul>\n" + para(2)
    text = prune_minimal_html(html)
    assert text.count("Paragraph 0 adds detail") == 2
    assert text.count("Schools and roads") == 2


def test_repeat_length_boundaries():
    def labels(texts: list[str]) -> list[str]:
        blocks = [Block(bp.PARAGRAPH, t, 0, 0) for t in texts]
        for b in blocks:
            b.label = bp.GOOD
        bp._mark_repeated_short_blocks(blocks)
        return [b.label for b in blocks]

    short = "x" * (bp.DUPLICATE_MIN_CHARS - 1)
    shortest = "y" * bp.DUPLICATE_MIN_CHARS
    longest = "z" * (bp.LONG_CHARS - 1)
    long = "w" * bp.LONG_CHARS
    assert labels([short, "other text", short]) == [bp.GOOD] * 3
    assert labels([shortest, "other text", shortest]) == [bp.GOOD, bp.GOOD, bp._VOID]
    assert labels([longest, "other text", longest, longest]) == [bp.GOOD, bp.GOOD, bp._VOID, bp._VOID]
    assert labels([shortest, shortest, "other text", shortest]) == [bp.GOOD, bp.GOOD, bp.GOOD, bp._VOID]
    assert labels([long, "other text", long]) == [bp.GOOD] * 3
    cjk = "中" * ((bp.LONG_CHARS - 1) // 3)  # CJK counts three: 66 characters are under LONG_CHARS
    assert labels([cjk, "other text", cjk]) == [bp.GOOD, bp.GOOD, bp._VOID]
    assert labels(["中" * (bp.LONG_CHARS // 3 + 1), "other text", "中" * (bp.LONG_CHARS // 3 + 1)]) == [bp.GOOD] * 3


# --- trailing notices ------------------------------------------------------------------------


def test_long_copyright_notice_at_the_end_is_dropped():
    assert len(NOTICE) > bp.STRONG_KEYWORD_MAX_CHARS  # too long for the keyword rule alone
    html = "".join(para(i) for i in range(4)) + f"<p>{NOTICE}</p>\n"
    text = prune_minimal_html(html)
    assert "All rights reserved" not in text
    assert text.rstrip().endswith("what happens next.")


def test_every_trailing_notice_goes_up_to_the_last_plain_paragraph():
    reprint = ("Reprints: this article may not be copied without permission. Copyright 2024 by the publisher, "
               "who licenses the text for personal, non-commercial use only; every other use needs a written "
               "licence from the rights desk, which answers requests within five working days of receiving them.")
    html = "".join(para(i) for i in range(3)) + f"<p>{reprint}</p>\n<p>{NOTICE}</p>\n"
    text = prune_minimal_html(html)
    assert "Reprints" not in text and "All rights reserved" not in text
    assert "Paragraph 2 adds detail" in text


def test_notice_inside_the_article_stays():
    html = para(0) + para(1) + f"<p>{NOTICE}</p>\n" + para(2) + para(3)
    text = prune_minimal_html(html)
    assert "All rights reserved" in text
    assert text.rstrip().endswith("what happens next.")


def test_page_whose_every_paragraph_holds_a_phrase_keeps_them_all():
    law = ("The court ruled that a cookie banner must offer a reject button as visible as the accept button, "
           "and that consent given through a pre-ticked box is not consent at all under the regulation. "
           "Regulators in three countries had asked for the ruling after years of complaints from readers. ")
    assert len(law + "Point 0 of the ruling explains why.") > bp.STRONG_KEYWORD_MAX_CHARS  # prose, not a keyword block
    html = "".join(f"<p>{law}Point {i} of the ruling explains why.</p>\n" for i in range(3))
    text = prune_minimal_html(html)
    assert all(f"Point {i} of the ruling" in text for i in range(3))
