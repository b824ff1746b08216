from cowork.shared.testing.personal_data import EXAMPLE_EMAIL, personal_data_in_logs

# No personal data in logs: the cross-service tests register these members (and others with
# emails made up per test, hence the pattern); no service may log them.
PERSONAL_DATA = ["Giulia Bianchi", "giulia@example.org", "BNCGLI90A41F965D", "Marco Rossi",
                 "marco@example.org", "Anna Rossi", "Utente Di Prova", "fuzz@example.org",
                 "VRDLCU80C01F965J", "Utente Generato", "generato@example.org"]
pytest_runtest_makereport = personal_data_in_logs(PERSONAL_DATA, patterns=[EXAMPLE_EMAIL])
