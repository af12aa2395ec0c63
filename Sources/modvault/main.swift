import ModVaultCLI

await ModVaultCommand.execute()
