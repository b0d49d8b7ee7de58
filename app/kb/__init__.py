"""The knowledge base: product facts, review snippets and FAQ in Chroma, retrieved hybrid."""
