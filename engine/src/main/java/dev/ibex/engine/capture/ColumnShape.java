package dev.ibex.engine.capture;

/** One column as the catalog describes it: name, type as {@code format_type} prints it, nullability. */
public record ColumnShape(String name, String type, boolean notNull) {
}
