"""Filling the console's row editors in the browser. The date and time fields are the
browser's own pickers, whose typed form follows the locale: they are given their ISO value
(what the picker itself sets) with the input and change events a user's entry fires."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.browser import WAIT, Browser

SET_VALUE = ("arguments[0].value = arguments[1];"
             "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
             "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));")


def set_picker(b: Browser, element_id: str, value: str) -> None:
    field = b.by_id(element_id)
    b.driver.execute_script(SET_VALUE, field, value)
    assert field.get_attribute("value") == value, (element_id, value)


def fill_session_row(b: Browser, index: int, day: str, start: str, end: str,
                     kind: str = "classroom_theory") -> None:
    """Row ``index`` of the class's sessions: ``2025-08-04``, ``19:30``, ``22:00``, a kind."""
    prefix = f"session-{index}-"
    set_picker(b, f"{prefix}date", day)
    set_picker(b, f"{prefix}start", start)
    set_picker(b, f"{prefix}end", end)
    Select(b.by_id(f"{prefix}kind")).select_by_value(kind)


def swap_rows(b: Browser, button_id: str, until_id: str, *, present: bool = True) -> None:
    """Click an editor's add-row or remove-row button (htmx swaps the editor in place, the
    page stays) and wait until the field ``until_id`` is there (or gone)."""
    b.by_id(button_id).click()
    WebDriverWait(b.driver, WAIT).until(
        lambda d: bool(d.find_elements(By.ID, until_id)) == present)
    b.settled()
