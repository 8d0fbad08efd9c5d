package dev.ibex.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Keeps the modules layered as the design says: the CLI uses the engine, the engine uses the
 * schemas and the conflict vocabulary, nothing points back up; the conflict module is pure
 * (no JDBC, jOOQ or Pekko), the CLI reaches the control and node databases only through the
 * engine (no generated jOOQ classes), and the engine's packages have no cycles.
 */
class LayeringTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importClasses() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("dev.ibex");
    }

    @Test
    void modulesAreLayered() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("cli").definedBy("dev.ibex.cli..")
                .layer("engine").definedBy("dev.ibex.engine..")
                .layer("schema").definedBy("dev.ibex.schema..")
                .layer("conflict").definedBy("dev.ibex.conflict..")
                .whereLayer("cli").mayNotBeAccessedByAnyLayer()
                .whereLayer("engine").mayOnlyBeAccessedByLayers("cli")
                .whereLayer("schema").mayOnlyBeAccessedByLayers("engine")
                .whereLayer("conflict").mayOnlyBeAccessedByLayers("engine", "cli")
                .check(classes);
    }

    @Test
    void conflictModuleIsPure() {
        noClasses().that().resideInAPackage("dev.ibex.conflict..")
                .should().dependOnClassesThat().resideInAnyPackage("java.sql..", "javax.sql..", "org.jooq..", "org.apache.pekko..")
                .check(classes);
    }

    @Test
    void cliUsesNoGeneratedJooqClasses() {
        noClasses().that().resideInAPackage("dev.ibex.cli..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.ibex.schema..", "org.jooq..")
                .check(classes);
    }

    @Test
    void enginePackagesHaveNoCycles() {
        slices().matching("dev.ibex.engine.(*)..").should().beFreeOfCycles().check(classes);
    }
}
