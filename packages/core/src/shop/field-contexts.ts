/**
 * The associated-data contexts of the shop's encrypted columns: a value encrypted for one column
 * cannot be decrypted as another's. Everything that writes or reads these columns uses these names.
 */
export const STOCK_SECRET_CONTEXT = 'product_stock_items.secret_enc';
export const SNK_CONTENT_CONTEXT = 'product_term_submissions.content_enc';
