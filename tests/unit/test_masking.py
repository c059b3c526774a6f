from procops.journal import scrub
from procops.masking import MASK, mask_data, mask_text


def test_url_passwords_of_every_restic_backend_are_masked():
    for url, shown in [
        ("rest:http://backup:pw@10.0.0.2:8000/repo", f"rest:http://backup:{MASK}@10.0.0.2:8000/repo"),
        ("rest:https://u:p@ss@h/", f"rest:https://u:{MASK}@h/"),
        ("sftp://u:pw@h:22//srv/r", f"sftp://u:{MASK}@h:22//srv/r"),
        ("s3:https://key:secret@minio:9000/bucket", f"s3:https://key:{MASK}@minio:9000/bucket"),
        ("postgresql://u:pw@127.0.0.1/db", f"postgresql://u:{MASK}@127.0.0.1/db"),
    ]:
        assert mask_text(url) == shown


def test_urls_without_a_password_are_left_alone():
    for text in ("sftp:backup@host:/srv/restic", "http://u@h/", "/var/lib/restic", "a@b: ok"):
        assert mask_text(text) == text


def test_key_value_secrets_of_connection_strings_are_masked():
    assert mask_text("host=db password=abc dbname=x") == f"host=db password={MASK} dbname=x"
    assert "OBSC" not in mask_text("rclone::sftp,host=x,user=u,pass=OBSC:/p")


def test_the_journal_scrub_masks_url_passwords_in_any_string():
    data = {"repositories": {"r": {"url": "rest:http://u:pw@h/", "error": 'Get "http://u:pw@h/config": refused'}}}
    assert "pw@" not in str(scrub(data))
    assert mask_data(["sftp://a:b@c/"]) == [f"sftp://a:{MASK}@c/"]
