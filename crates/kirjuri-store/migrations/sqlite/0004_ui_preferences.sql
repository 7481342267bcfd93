-- The web UI's preferences (issue 4).
--
-- sessions.purpose: the purpose of processing (ACC-2) the user chose for this
--   session; every read the UI makes passes it. Kept per session (server
--   side), so it ends with the session and a new sign-in asks again.
-- users.language: the language the account uses the UI in (fi, sv, en);
--   NULL means the default (Finnish). Per account, so it follows the person
--   to any browser.
ALTER TABLE sessions ADD COLUMN purpose TEXT CHECK (purpose IS NULL OR length(purpose) <= 64);
ALTER TABLE users ADD COLUMN language TEXT CHECK (language IS NULL OR length(language) <= 8);
