"""Reply separation: each of Postal's ReplySeparator rules, and the order the removed pieces come back in."""

from __future__ import annotations

import random
import re

import pytest

from core.mail.reply_separator import RULES, separate

# Postal's rules exactly as Postal writes them, run the plain way: the reference for `separate`.
POSTAL_RULES = [
    re.compile(r"^>*\s*" + pattern.pattern, pattern.flags) if prefixed else pattern for pattern, prefixed in RULES
]


def postal_separate(plain: str) -> tuple[str, str]:
    text = plain.replace("\r", "")
    stripped = ""
    for rule in POSTAL_RULES:
        for match in rule.finditer(text):
            stripped = match.group(0) + "\n" + stripped
        text = rule.sub("", text)
    return text.strip(" \t\n\v\f\r\x00"), stripped.strip(" \t\n\v\f\r\x00")


def test_on_date_wrote_cuts_the_attribution_and_everything_below() -> None:
    body = (
        "Thanks, that works.\r\n\r\nOn Mon, 3 Feb 2025 at 09:14, Jane Doe <jane@example.com> wrote:\r\n> Try this\r\n"
    )

    text, replies = separate(body)

    assert text == "Thanks, that works."
    assert replies == "On Mon, 3 Feb 2025 at 09:14, Jane Doe <jane@example.com> wrote:\n> Try this"


def test_a_wrapped_attribution_line_is_still_recognised() -> None:
    text, replies = separate("Yes.\n\nOn Mon, 3 Feb 2025 at 09:14, Jane Doe\n<jane@example.com> wrote:\n\n> Hi\n")

    assert text == "Yes."
    assert replies.startswith("On Mon, 3 Feb 2025") and replies.endswith("> Hi")


@pytest.mark.parametrize(
    ("separator", "kept"),
    [
        ("-----Original Message-----\nFrom: Bob\nSubject: x", "Answer"),
        ("> ----- Original Message -----\nold", "Answer"),
        ("From: Bob Smith\nSent: Monday, 3 February 2025 09:14\nTo: Alice", "Answer"),
        ("From: Bob Smith <bob@example.com>\nDate: Mon, 3 Feb 2025\nSubject: x", "Answer"),
        ("-----Ursprüngliche Nachricht----- \nVon: Bob", "Answer"),
        ("________________________________\nFrom: Bob", "Answer"),
        ("-- \nAlice\nCEO", "Answer"),
        ("Sent from my iPhone", "Answer"),
        ("=== Please reply above this line ===\nTicket #42", "Answer"),
    ],
)
def test_each_separator_rule_cuts_to_the_end(separator: str, kept: str) -> None:
    text, replies = separate(f"{kept}\n\n{separator}\n")

    assert text == kept
    assert replies == separator.strip()


def test_the_french_attribution_rule_removes_only_its_own_line() -> None:
    # Postal's French rule has no /m flag: the quoted text after the attribution stays. Its leading
    # `\s*` starts the match on the blank line above, so that line goes too.
    text, replies = separate("Merci\n\nLe 3 févr. 2025 à 09:14, Marie <marie@example.fr> a écrit :\nBonjour\n")

    assert text == "Merci\n\nBonjour"
    assert replies == "Le 3 févr. 2025 à 09:14, Marie <marie@example.fr> a écrit :"


def test_ten_quoted_lines_are_removed_but_fewer_are_kept() -> None:
    ten = "".join(f"> line {i}\n" for i in range(10))

    text, replies = separate(f"Top\n{ten}Bottom")
    few_text, few_replies = separate("Top\n> one\n> two\nBottom")

    assert (text, replies) == ("Top\nBottom", ten.strip())
    assert (few_text, few_replies) == ("Top\n> one\n> two\nBottom", "")


def test_pieces_removed_by_later_rules_come_first() -> None:
    # The "-- " signature rule runs first and the "On … wrote:" rule later; Postal prepends each cut.
    body = "Reply\nOn Monday 3 February, Jane wrote:\n> quoted\n"
    signature_first = "Reply\n-- \nsig\n"

    assert separate(body) == ("Reply", "On Monday 3 February, Jane wrote:\n> quoted")
    assert separate(signature_first) == ("Reply", "-- \nsig")
    text, replies = separate("New\nSent from my phone\n-- \nsig")
    assert text == "New"
    assert replies == "Sent from my phone\n\n-- \nsig"


def test_text_without_replies_is_only_stripped() -> None:
    assert separate("  \r\nJust a note.\r\n\r\n") == ("Just a note.", "")


@pytest.mark.parametrize("empty", [None, ""])
def test_no_body_gives_two_empty_strings(empty: str | None) -> None:
    assert separate(empty) == ("", "")


def test_matches_postals_rules_applied_directly() -> None:
    atoms = ["\n", "\n", " ", "\t", ">", "> ", "abc", "x" * 10, "On ", "wrote:", "Le ", "a écrit :", "From: x",
             "Sent: y", "Date: z", "-- ", "-----Original Message-----", "_" * 19, "Sent from my",
             "=== Please reply above this line ==="]  # fmt: skip
    generator = random.Random(20240506)
    for _ in range(5000):
        body = "".join(generator.choice(atoms) for _ in range(generator.randint(0, 40)))
        assert separate(body) == postal_separate(body), body


# Inputs on which the quadratic search would run far past the timeout (200,000 blank lines took it minutes),
# while the linear one takes a second or two: a regression shows as this test's timeout, with no
# measured time asserted (a busy machine must not fail it).
@pytest.mark.timeout(300)
@pytest.mark.parametrize("body", ["\n" * 500_000 + "x", "\n \n" * 250_000 + "From", ">\n\n" * 125_000 + "x"])
def test_long_runs_of_blank_lines_take_linear_time(body: str) -> None:
    text, replies = separate(body)

    assert text.endswith(body[-1]) and replies == ""
