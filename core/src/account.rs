//! Account rules shared by the sign-up form and the edge.

use crate::tool::FieldError;

/// Minimum and maximum password length (characters / bytes).
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_BYTES: usize = 256;

/// A plausible email address: one `@`, a dotted domain, no spaces, at most 254 characters.
pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// Checks sign-up credentials; returns every problem at once.
pub fn validate_signup(email: &str, password: &str) -> Vec<FieldError> {
    let mut errors = vec![];
    if !valid_email(email) {
        errors.push(FieldError::new(
            "email",
            "invalid_email",
            "Enter a valid email address, like name@example.com.",
        ));
    }
    if password.chars().count() < PASSWORD_MIN_CHARS {
        errors.push(FieldError::new(
            "password",
            "password_too_short",
            format!("Use a password of at least {PASSWORD_MIN_CHARS} characters."),
        ));
    } else if password.len() > PASSWORD_MAX_BYTES {
        errors.push(FieldError::new(
            "password",
            "password_too_long",
            format!("Use a password of at most {PASSWORD_MAX_BYTES} characters."),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn emails() {
        assert!(valid_email("a@b.co"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("@b.co"));
        assert!(!valid_email("a b@c.co"));
        assert!(!valid_email("a@@b.co"));
    }

    #[test]
    fn signup_reports_both_fields() {
        let e = validate_signup("nope", "short");
        assert_eq!(
            e.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["email", "password"]
        );
        assert!(validate_signup("a@b.co", "longenough").is_empty());
        assert_eq!(
            validate_signup("a@b.co", &"x".repeat(300))[0].code,
            "password_too_long"
        );
    }
}
