//! Where the JWT comes from. A file is read again before each request: whatever rotates it
//! (a cron job, systemd credentials, a secrets agent) needs no restart of the agent.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum Token {
    Value(String),
    File(PathBuf),
}

impl Token {
    /// The token, without surrounding whitespace (files usually end in a newline).
    pub fn read(&self) -> Result<String, String> {
        let text = match self {
            Token::Value(value) => value.clone(),
            Token::File(path) => std::fs::read_to_string(path).map_err(|error| {
                format!("cannot read the token file {}: {error}", path.display())
            })?,
        };
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        Ok(token.to_string())
    }

    /// Whether a refused token may be replaced while the agent runs.
    pub fn can_change(&self) -> bool {
        matches!(self, Token::File(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Token::Value(_) => "the token (COMPUTE_AGENT_TOKEN)".to_string(),
            Token::File(path) => format!("the token file {}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_again_each_time() {
        let path = std::env::temp_dir().join(format!("compute-agent-token-{}", std::process::id()));
        let token = Token::File(path.clone());
        assert!(token.read().is_err(), "missing");
        std::fs::write(&path, "first\n").unwrap();
        assert_eq!(token.read().unwrap(), "first");
        std::fs::write(&path, "  second  ").unwrap();
        assert_eq!(token.read().unwrap(), "second");
        std::fs::write(&path, "\n").unwrap();
        assert!(token.read().unwrap_err().contains("empty"));
        std::fs::remove_file(&path).unwrap();
        assert!(token.can_change());
        assert!(!Token::Value("x".to_string()).can_change());
        assert!(Token::Value(" ".to_string()).read().is_err());
    }
}
