//! The sign-in form: one password field for the node's web token.

use maud::{html, Markup, DOCTYPE};

/// The form, returning to `next` after signing in; `error` when the last try failed.
pub fn page(next: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (super::head("Sign in"))
            body {
                main.login {
                    section {
                        h1 { "Screener" }
                        form method="post" action="/login" {
                            @if let Some(e) = error {
                                p.error role="alert" { (e) }
                            }
                            label for="token" { "Web token" }
                            input #token type="password" name="token" autocomplete="current-password"
                                required autofocus;
                            input type="hidden" name="next" value=(next);
                            button type="submit" { "Sign in" }
                        }
                        p.muted {
                            "The token is in the node's configuration (web.token or web.token_file) "
                            "or, when neither is set, in the file web-token in its data folder."
                        }
                    }
                }
            }
        }
    }
}
