"""Export to the phone runtimes. Each backend is one module, imported only when used."""
