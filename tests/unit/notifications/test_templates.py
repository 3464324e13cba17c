"""Templates: every kind in zh-CN and English, rendered from the rules' own parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifications.domain import rules
from services.notifications.domain.model import Kind
from services.notifications.rendering import (
    TEMPLATES,
    TemplateMissing,
    format_yuan,
    locale_chain,
    render,
)
from tests.unit.notifications import events as ev


def every_planned():
    return [
        *rules.on_worker_enrolled(ev.enrolled(), ev.AT, ev.scheduled("night")),
        *rules.on_skill_level_certified(ev.certified(), ev.AT),
        *rules.on_class_completed(ev.completed(("w-1", 0.9, True), ("w-2", 0.5, False)), ev.AT),
        *rules.on_payment_confirmed(ev.confirmed(), ev.items(), ev.AT),
        *rules.on_objection_raised(ev.objection(), ev.AT),
        *rules.on_worker_referred(ev.referred(), ev.AT),
        *rules.on_worker_placed(ev.placed(), ev.AT),
        *rules.on_referral_declined(ev.declined(), ev.AT),
        *rules.on_business_guidance_requested(ev.guidance_requested(), ev.AT),
    ]


def test_the_rules_cover_every_kind():
    assert {p.kind for p in every_planned()} == set(Kind)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_kind_has_a_template_in_both_languages(locale: str):
    for kind in Kind:
        assert (TEMPLATES / locale / f"{kind}.txt").is_file(), (locale, kind)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_planned_notice_renders_without_leftover_placeholders(locale: str):
    for p in every_planned():
        personal = {"name": "张三"} if p.recipient.kind == "worker" else {}
        rendered = render(p.kind, p.params, locales=[locale], personal=personal)
        assert rendered.locale == locale
        assert rendered.subject and rendered.body
        assert "$" not in rendered.subject + rendered.body, (p.kind, rendered.body)
        if p.recipient.kind == "worker":
            assert "张三" in rendered.body


def test_chinese_words_for_codes_and_money_in_yuan():
    [paid, _] = rules.on_payment_confirmed(ev.confirmed(), ev.items(), ev.AT)
    text = render(paid.kind, paid.params, locales=["zh-CN"], personal={"name": "李四"}).body
    assert "1,000.50 元" in text and "李四" in text
    cert = rules.on_skill_level_certified(ev.certified(), ev.AT)[0]
    zh = render(cert.kind, cert.params, locales=["zh-CN"], personal={"name": "李四"})
    assert "电工" in zh.body and "五级/初级工" in zh.body and zh.subject == "职业技能等级证书已颁发"
    en = render(cert.kind, cert.params, locales=["en"], personal={"name": "Li Si"})
    assert "electrician" in en.body and "level 5 (basic)" in en.body


def test_schedule_lists_every_session_and_the_reminder_names_the_time():
    planned = rules.on_worker_enrolled(ev.enrolled(), ev.AT, ev.scheduled("night"))
    schedule = next(p for p in planned if p.kind == Kind.CLASS_SCHEDULE)
    body = render(schedule.kind, schedule.params, locales=["zh-CN"],
                  personal={"name": "王五"}).body
    assert "2025-07-24 19:30–21:30 课堂理论" in body and "2025-07-25 19:30–21:30" in body
    assert "夜校" in body and "共 2 次课" in body
    reminder = next(p for p in planned if p.kind == Kind.SESSION_REMINDER)
    body = render(reminder.kind, reminder.params, locales=["zh-CN"],
                  personal={"name": "王五"}).body
    assert "明天（2025-07-24）19:30–21:30" in body


def test_default_chain_is_chinese_then_english():
    assert locale_chain(None) == ["zh-CN", "en"]
    assert locale_chain("en") == ["en", "zh-CN"]
    assert locale_chain("zh") == ["zh-CN", "en"]
    assert locale_chain("ug") == ["ug", "zh-CN", "en"]  # no Uyghur templates yet: falls back
    objection = rules.on_objection_raised(ev.objection(), ev.AT)[0]
    assert render(objection.kind, objection.params, locales=locale_chain("ug")).locale == "zh-CN"


def test_a_template_missing_in_chinese_falls_back_to_english(tmp_path: Path):
    (tmp_path / "zh-CN").mkdir()
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "hr_objection_raised.txt").write_text(
        "Objection\nObjection ${objection_id}: ${ground_label}\n", "utf-8")
    (tmp_path / "en" / "labels.json").write_text('{"grounds": {"not_attended": "absent"}}')
    objection = rules.on_objection_raised(ev.objection(), ev.AT)[0]
    rendered = render(objection.kind, objection.params, locales=locale_chain(None),
                      root=tmp_path)
    assert rendered.locale == "en"
    assert rendered.body == "Objection o-1: absent"
    with pytest.raises(TemplateMissing):
        render("certificate_issued", {}, locales=["zh-CN", "en"], root=tmp_path)


def test_rendered_repr_keeps_the_text_out_of_logs_and_tracebacks():
    cert = rules.on_skill_level_certified(ev.certified(), ev.AT)[0]
    rendered = render(cert.kind, cert.params, locales=["zh-CN"], personal={"name": "赵六"})
    assert "赵六" not in repr(rendered)


def test_format_yuan():
    assert format_yuan(0) == "0.00"
    assert format_yuan(5) == "0.05"
    assert format_yuan(123456789) == "1,234,567.89"
    assert format_yuan(-150) == "-1.50"


def test_a_referral_is_an_sms_in_chinese_naming_the_employer_and_the_place():
    [referral] = rules.on_worker_referred(ev.referred(), ev.AT)
    text = render(referral.kind, referral.params, locales=["zh-CN"], personal={"name": "李四"})
    assert text.body.startswith("李四您好：驿站已按您的同意")
    assert "阜康某电力安装公司" in text.body and "电工" in text.body and "新疆 阜康市" in text.body
