#!/usr/bin/env python3
"""Browser tests of `modvault serve`: Selenium drives headless Chromium through the pages as a
person would (sign in, history, browse a snapshot, download a file, open the changes of a plugin,
restore one file with live progress, create an invite), and saves a screenshot of each page.

Usage: Tests/web/ui_test.py --binary PATH/modvault [--screenshots DIR] [--keep]
(modvault-fixtures is taken from beside the binary.)
Needs: Debian `chromium` and `chromium-driver`, PyPI `selenium` (scripts/setup.sh installs them).
"""
import argparse, os, shutil, struct, subprocess, tempfile, urllib.error, urllib.parse, urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait


def run(binary, env, *args):
    done = subprocess.run([binary, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"modvault {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def tiny_plugin(values):
    """A Fallout 4 plugin with one GMST per (object ID, value): the DATA of each is the value."""
    def field(sig, data):
        return sig.encode() + struct.pack("<H", len(data)) + data

    def record(sig, form_id, data):
        return sig.encode() + struct.pack("<IIIIHH", len(data), 0, form_id, 0, 131, 0) + data

    records = b"".join(record("GMST", 0x01000000 | obj, field("EDID", b"fSetting%x\0" % obj) + field("DATA", struct.pack("<I", v)))
                       for obj, v in sorted(values.items()))
    group = b"GRUP" + struct.pack("<I", 24 + len(records)) + b"GMST" + struct.pack("<iHHHH", 0, 0, 0, 0, 0) + records
    header = (field("HEDR", struct.pack("<fiI", 1.0, len(values) + 1, 0x900)) + field("CNAM", b"DEFAULT\0")
              + field("MAST", b"Fallout4.esm\0") + field("DATA", struct.pack("<Q", 0)) + field("INTV", struct.pack("<I", 1)))
    return record("TES4", 0, header) + group


def plugin_values(data):
    """The DATA value of each GMST of a tiny_plugin, by object ID."""
    out, at = {}, 24 + struct.unpack_from("<I", data, 4)[0] + 24
    while at < len(data):
        size, form_id = struct.unpack_from("<I", data, at + 4)[0], struct.unpack_from("<I", data, at + 12)[0]
        out[form_id & 0xFFFFFF] = struct.unpack_from("<I", data, at + 24 + size - 4)[0]
        at += 24 + size
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--screenshots", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = parser.parse_args()
    binary = os.path.abspath(a.binary)
    shots = a.screenshots and os.path.abspath(a.screenshots)
    if shots:
        os.makedirs(shots, exist_ok=True)

    root = tempfile.mkdtemp(prefix="modvault-web-")
    env = dict(os.environ, MODVAULT_REPO=f"{root}/repo", MODVAULT_PASSWORD="web test password", MODVAULT_TEST_SCRYPT_N="1024",
               XDG_CONFIG_HOME=f"{root}/config")
    env.pop("MODVAULT_PASSWORD_FILE", None)
    mods = f"{root}/mods"
    os.makedirs(f"{mods}/Armor/Textures")
    # A generated MO2 folder (modvault-fixtures) whose second version edits and inserts records in one
    # plugin, so the changes page has records to show; and a small folder to browse and restore.
    fixtures = os.path.join(os.path.dirname(binary), "modvault-fixtures")
    subprocess.run([fixtures, "--scale", "2M", f"{mods}/gen"], check=True, capture_output=True)
    with open(f"{mods}/Armor/Armor.esp", "wb") as f:
        f.write(b"first version")
    with open(f"{mods}/Armor/Textures/plate.dds", "wb") as f:
        f.write(os.urandom(200_000))
    run(binary, env, "init")
    run(binary, env, "snapshot", mods, "--tag", "before")
    subprocess.run([fixtures, "--scale", "2M", "--scenario", "plugin", f"{mods}/gen"], check=True, capture_output=True)
    with open(f"{mods}/Armor/Armor.esp", "wb") as f:
        f.write(b"second version")
    with open(f"{mods}/Armor/Readme.txt", "w") as f:
        f.write("read me")
    run(binary, env, "snapshot", mods, "--tag", "after")
    run(binary, env, "remote", "add", "team", f"{root}/remote")
    run(binary, env, "push", "team")

    # A synced folder with a conflict waiting: this device and a second one (a clone) edit one
    # plugin differently; plugins that do not parse cannot merge record by record, so the
    # conflict stays for the Sync page.
    # A real plugin edited on both sides: one record differently (a record conflict), one on one side.
    shared = f"{root}/shared"
    os.makedirs(f"{shared}/Quest")
    os.makedirs(f"{shared}/Team")
    with open(f"{shared}/Quest/Quest.esp", "w") as f:
        f.write("base")
    with open(f"{shared}/Team/Team.esp", "wb") as f:
        f.write(tiny_plugin({0x800: 1, 0x801: 2}))
    run(binary, env, "remote", "add", "sync", f"{root}/sync-remote")
    run(binary, env, "sync", shared, "--remote", "sync")
    other = dict(env, MODVAULT_REPO=f"{root}/repo-b", XDG_CONFIG_HOME=f"{root}/config-b")
    run(binary, other, "clone", f"{root}/sync-remote")
    os.makedirs(f"{root}/shared-b")
    run(binary, other, "sync", f"{root}/shared-b", "--remote", f"{root}/sync-remote")
    with open(f"{root}/shared-b/Quest/Quest.esp", "w") as f:
        f.write("theirs")
    with open(f"{root}/shared-b/Team/Team.esp", "wb") as f:
        f.write(tiny_plugin({0x800: 12, 0x801: 22}))
    run(binary, other, "sync", f"{root}/shared-b")
    with open(f"{shared}/Quest/Quest.esp", "w") as f:
        f.write("ours")
    with open(f"{shared}/Team/Team.esp", "wb") as f:
        f.write(tiny_plugin({0x800: 11, 0x801: 2}))
    conflicted = subprocess.run([binary, "sync", shared], env=env, capture_output=True, text=True)
    if conflicted.returncode != 5:
        raise SystemExit(f"expected a conflict (exit 5), got {conflicted.returncode}: {conflicted.stderr}")

    server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--folder", shared], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    driver = None
    try:
        login = server.stdout.readline().strip()
        if not login.startswith("http://127.0.0.1:"):
            raise SystemExit(f"serve printed no address: {login!r} {server.stderr.read() if server.poll() is not None else ''}")
        base = login.split("/login")[0]

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
        # A click that reloads the page can replace an element while a wait reads it: try again.
        wait = WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException])

        def shown(d, css):
            """The element's rendered text, or None while it is missing. Read in one script call, so a
            page re-rendering between finding the element and reading it cannot fail the wait (Chromium
            reports that race as a generic error, not as a stale element)."""
            return d.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css)

        def shows(d, css, words):
            return words in (shown(d, css) or "")

        def shot(name):
            if shots:
                driver.save_screenshot(f"{shots}/{name}.png")

        def after_row(d, tag="after"):
            return next(r for r in d.find_elements(By.CSS_SELECTOR, "#history tr")[1:] if f" {tag}" in r.text)

        def open_snapshot(tag):
            driver.get(base + "/")
            after_row(driver, tag).find_element(By.CSS_SELECTOR, "td:nth-child(2) a").click()
            wait.until(lambda d: d.find_elements(By.ID, "entries"))

        def check(condition, message):
            if not condition:
                shot("failure")
                raise AssertionError(message)

        # Sign in with the one-time address: the history page, newest first, with tags.
        driver.get(login)
        wait.until(lambda d: d.find_elements(By.ID, "history"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#history tr")[1:]
        tagged = [r.text for r in rows if " after" in r.text or " before" in r.text]
        check(len(rows) >= 2 and len(tagged) == 2, f"history shows {len(rows)} snapshots, tagged {tagged}")
        check(" after" in tagged[0] and " before" in tagged[1], "history is newest first with tags")
        shot("history")
        # The timeline narrowed to one folder: only its two snapshots.
        driver.find_element(By.LINK_TEXT, mods).click()
        wait.until(lambda d: "folder=" in d.current_url)
        narrowed = [r for r in driver.find_elements(By.CSS_SELECTOR, "#history tr")[1:] if "day" not in (r.get_attribute("class") or "")]
        check(len(narrowed) == 2, f"the folder filter shows {len(narrowed)} snapshots")
        # The address works once: a second visit is refused.
        try:
            urllib.request.urlopen(login, timeout=10)
            check(False, "the login address worked twice")
        except urllib.error.HTTPError as e:
            check(e.code == 401, f"second login answered {e.code}")

        # Browse the newest snapshot into Armor/.
        open_snapshot("after")
        wait.until(lambda d: d.find_elements(By.ID, "entries"))
        driver.find_element(By.LINK_TEXT, "Armor/").click()
        wait.until(lambda d: shows(d, "#entries", "Readme.txt"))
        check("Textures/" in driver.find_element(By.ID, "entries").text, "the folder lists its subfolder")
        shot("browse")
        href = driver.find_element(By.LINK_TEXT, "Readme.txt").get_attribute("href")
        check("/api/v1/snapshots/" in href and "path=Armor/Readme.txt" in href, f"download link {href}")

        # The changes of the newest snapshot: the plugin changed, the readme was added.
        driver.get(base + "/")
        after_row(driver).find_element(By.LINK_TEXT, "changes").click()
        wait.until(lambda d: d.find_elements(By.ID, "changes"))
        # What changed inside each plugin loads after the page, file by file.
        wait.until(lambda d: shows(d, "#changes", "records added"))
        text = driver.find_element(By.ID, "changes").text
        check("Armor/Armor.esp" in text and "Armor/Readme.txt" in text, f"changes page shows: {text}")
        check("records added" in text and ".esp" in text, f"the changed plugin's records are listed: {text}")
        shot("diff")

        # Inside that plugin: its records, with type and EditorID.
        plugin_row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#changes tr") if "records added" in r.text)
        plugin_path = plugin_row.find_elements(By.TAG_NAME, "td")[1].text.split("\n")[0]
        after_id = driver.find_elements(By.CSS_SELECTOR, "main p a")[1].get_attribute("href").rsplit("/", 1)[1]
        driver.get(f"{base}/inside/{after_id}?path={urllib.parse.quote(plugin_path)}")
        wait.until(lambda d: d.find_elements(By.ID, "inside"))
        check("records" in driver.find_element(By.TAG_NAME, "main").text and "KYWD" in driver.find_element(By.ID, "inside").text,
              "the plugin's records are listed")
        shot("inside")

        # Restore one file into a new folder and follow the job to the end.
        open_snapshot("after")
        driver.find_element(By.LINK_TEXT, "Armor/").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "button.restore"))
        for button in driver.find_elements(By.CSS_SELECTOR, "button.restore"):
            if button.get_attribute("data-path") == "Armor/Armor.esp":
                button.click()
        target = f"{root}/restored"
        driver.find_element(By.ID, "restore-target").send_keys(target)
        driver.find_element(By.ID, "restore-go").click()
        wait.until(lambda d: shows(d, "#restore-jobs", "done"))
        with open(f"{target}/Armor/Armor.esp", "rb") as f, open(f"{mods}/Armor/Armor.esp", "rb") as g:
            check(f.read() == g.read(), "the restored file is the snapshot's")
        check(not os.path.exists(f"{target}/Armor/Readme.txt"), "only the chosen file was restored")
        shot("restore")
        # The job outlives the page: the jobs page lists it after a reload.
        driver.get(base + "/jobs")
        wait.until(lambda d: shows(d, "main", "done"))
        shot("jobs")

        # Every version of the plugin of the small folder, each restorable.
        driver.get(base + "/file?path=" + "Armor/Armor.esp")
        wait.until(lambda d: d.find_elements(By.ID, "versions"))
        check(len(driver.find_elements(By.CSS_SELECTOR, "#versions tr")) - 1 == 2, "two versions of Armor.esp")
        shot("versions")

        # Resolve the unparseable plugin's conflict with one click: take theirs.
        driver.get(base + "/sync")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.conflicts"))
        listed = driver.find_element(By.CSS_SELECTOR, "table.conflicts").text
        check("Quest/Quest.esp" in listed and "Team/Team.esp" in listed, "both conflicts are listed")
        check("Team.esp:000800" in listed, "the conflicting record is named")
        shot("sync")
        for button in driver.find_elements(By.CSS_SELECTOR, "button.resolve"):
            if button.get_attribute("data-take") == "theirs" and button.get_attribute("data-path") == "Quest/Quest.esp":
                button.click()
                break
        wait.until(lambda d: (t := shown(d, "table.conflicts")) is not None and "Quest/Quest.esp" not in t)
        with open(f"{shared}/Quest/Quest.esp") as f:
            check(f.read() == "theirs", "resolving took their version")

        # The plugin's conflict side by side: base, ours and theirs, the record's fields on each side
        # with the differing one marked; take theirs for that record, then sync to write the merge.
        driver.find_element(By.LINK_TEXT, "Team/Team.esp").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.records"))
        check(len(driver.find_elements(By.CSS_SELECTOR, "table.sides td")) == 3, "base, ours and theirs side by side")
        records = driver.find_element(By.CSS_SELECTOR, "table.records").text
        check("Team.esp:000800" in records and "fSetting800" in records, "the conflicting record with its EditorID")
        check(len(driver.find_elements(By.CSS_SELECTOR, "table.records .field.differs")) >= 2, "the differing field is marked")
        check("Team.esp:000801" not in records, "the record changed on one side only is not a conflict")
        shot("conflict")
        for button in driver.find_elements(By.CSS_SELECTOR, "button.resolve-record"):
            if button.get_attribute("data-side") == "theirs":
                button.click()
                break
        wait.until(lambda d: d.current_url.endswith("/sync") and not d.find_elements(By.CSS_SELECTOR, "table.conflicts"))
        driver.find_element(By.CSS_SELECTOR, "button.sync-now").click()
        wait.until(lambda d: shows(d, "p.job-slot", "succeeded") or shows(d, "p.job-slot", "done"))
        with open(f"{shared}/Team/Team.esp", "rb") as f:
            merged = plugin_values(f.read())
        check(merged == {0x800: 12, 0x801: 22}, f"the merged plugin took theirs for the record and kept the rest: {merged}")

        # The repository page: size, deduplication, remotes; a check runs as a job to the end.
        driver.get(base + "/repository")
        wait.until(lambda d: d.find_elements(By.ID, "repository"))
        check("deduplication" in driver.find_element(By.ID, "repository").text, "the repository's statistics")
        check(any("Armor" in t.text for t in driver.find_elements(By.CSS_SELECTOR, "table.mods")), "the size of each top-level folder")
        driver.find_element(By.ID, "check-now").click()
        wait.until(lambda d: shows(d, "main", "no errors"))
        driver.find_element(By.ID, "prune-preview").click()
        wait.until(lambda d: shows(d, "#prune-slot", "would free"))
        shot("repository")

        # Create an invite on the team page; the code appears, ready to copy.
        driver.get(base + "/team")
        driver.find_element(By.ID, "invite-create").click()
        wait.until(lambda d: d.find_element(By.ID, "invite-code").get_attribute("value").startswith("mvinv1:"))
        shot("team")
        print("web UI tests passed: history, browse, inside a plugin, changes, restore with progress, jobs, versions, conflicts resolved by path and by record, repository check and prune preview, invite")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
