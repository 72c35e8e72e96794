import Testing
@testable import SendpathCore
@testable import SendpathYAML

@Suite("Decoding one document")
struct DocumentDecodingTests {
    @Test func decodesAValidInstanceWithLocations() throws {
        let (documents, diagnostics) = FixtureFleet.decode(FixtureFleet.instance("acme-prod1"))
        #expect(diagnostics.isEmpty)
        guard case .instance(let instance) = try #require(documents.first) else {
            Issue.record("not an instance")
            return
        }
        #expect(instance.name == "acme-prod1")
        #expect(instance.build == "7.3.5 build 9368")
        #expect(instance.sendingIPs.map(\.value) == [IPAddress("198.51.100.10")!])
        #expect(instance.sendingIPs[0].location == SourceLocation(file: "test.yaml", line: 11, column: 16))
        #expect(instance.sendingPath.value == SendingPath(infrastructure: .aws, location: "eu-west-1"))
        #expect(instance.wave.location.line == 13)
    }

    @Test func scalarsAreDecodedBySchemaNotGuessed() throws {
        let text = FixtureFleet.instance("acme-prod1").replacingOccurrences(of: "\"7.3.5 build 9368\"", with: "7.3")
        let (documents, diagnostics) = FixtureFleet.decode(text)
        #expect(diagnostics.isEmpty)
        guard case .instance(let instance) = try #require(documents.first) else { return }
        #expect(instance.build == "7.3")
    }

    @Test(arguments: ["null", "Null", "NULL", "~", "''"])
    func yamlNullIsNotAString(_ spelling: String) {
        let text = FixtureFleet.instance("acme-prod1").replacingOccurrences(of: "\"7.3.5 build 9368\"", with: spelling)
        let diagnostics = FixtureFleet.decode(text).diagnostics
        if spelling == "''" {
            #expect(diagnostics.map(\.message) == ["'build' in Instance spec must not be empty"])
        } else {
            #expect(diagnostics.map(\.message) == ["'build' in Instance spec must be a string, found null"])
        }
    }

    @Test(arguments: ["nULL", "NuLL", "nuLl", "nil", "nulls", "'null'"])
    func nullLookalikesAreStrings(_ spelling: String) throws {
        let text = FixtureFleet.instance("acme-prod1").replacingOccurrences(of: "\"7.3.5 build 9368\"", with: spelling)
        let (documents, diagnostics) = FixtureFleet.decode(text)
        #expect(diagnostics.isEmpty)
        guard case .instance(let instance) = try #require(documents.first) else { return }
        #expect(instance.build == (spelling == "'null'" ? "null" : spelling))
    }

    @Test func yesIsABadEnumNotABoolean() {
        let text = FixtureFleet.instance("acme-prod1").replacingOccurrences(of: "environment: prod", with: "environment: yes")
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.badEnum])
        #expect(diagnostics.first?.location.line == 9)
        #expect(diagnostics.first?.location.column == 16)
        #expect(diagnostics.first?.hint?.contains("booleans") == true)
    }

    @Test func specBeforeKindIsDecoded() throws {
        let text = """
        spec:
          cidr: 198.51.100.0/24
        metadata: {name: pfx-a}
        kind: AddressPrefix
        apiVersion: sendpath/v1
        """
        let (documents, diagnostics) = FixtureFleet.decode(text)
        #expect(diagnostics.isEmpty)
        guard case .addressPrefix(let prefix) = try #require(documents.first) else { return }
        #expect(prefix.cidr.value.description == "198.51.100.0/24")
        #expect(prefix.cidr.location.line == 2)
    }

    @Test func anchorsAndAliasesWorkWithinADocument() throws {
        let text = """
        apiVersion: sendpath/v1
        kind: Instance
        metadata: {name: acme-prod1, labels: &labels {tenant: acme}}
        spec:
          tenant: &tenant acme
          product: campaign-classic-v7
          hosting: managed-services
          environment: prod
          build: "7"
          sendingIPs: &ips [198.51.100.10, 198.51.100.11]
          sendingPath: {infrastructure: aws, location: eu-west-1}
          wave: w1
        """
        let (documents, diagnostics) = FixtureFleet.decode(text)
        #expect(diagnostics.isEmpty)
        guard case .instance(let instance) = try #require(documents.first) else { return }
        #expect(instance.metadata.labels == ["tenant": "acme"])
        #expect(instance.tenant == "acme")
        let aliased = FixtureFleet.decode(text.replacingOccurrences(of: "{tenant: acme}", with: "{tenant: &t acme}")
            .replacingOccurrences(of: "tenant: &tenant acme", with: "tenant: *t")
            .replacingOccurrences(of: "wave: w1", with: "wave: w1\n  hosting: *t"))
        #expect(aliased.diagnostics.map(\.rule) == [.duplicateKey])
        guard case .instance(let second) = aliased.documents.first else {
            Issue.record("the aliased document did not decode")
            return
        }
        #expect(second.tenant == "acme")
    }

    @Test func aliasesDoNotCrossDocuments() {
        let text = "apiVersion: &v sendpath/v1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n---\napiVersion: *v\nkind: Policy\nmetadata: {name: q}\nspec: {}\n"
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.unknownAlias])
        #expect(diagnostics.first?.location.line == 6)
    }

    @Test func reportsEveryProblemInOneDocument() {
        let text = """
        apiVersion: sendpath/v1
        kind: Instance
        metadata:
          name: Acme_Prod
        spec:
          tenant: acme
          product: campaign-classic-v9
          hosting: managed-services
          environment: prod
          sendingIp: [198.51.100.10]
          sendingPath: {infrastructure: aws, location: eu-west-1}
          wave: w1
          wave: w2
        """
        let diagnostics = FixtureFleet.decode(text).diagnostics.sortedByLocation()
        #expect(diagnostics.map(\.rule) == [.badName, .missingField, .missingField, .badEnum, .unknownField, .duplicateKey])
        let unknown = diagnostics.first { $0.rule == .unknownField }
        #expect(unknown?.description == "test.yaml:10:3: error: [unknown-field] unknown field 'sendingIp' in Instance spec (did you mean 'sendingIPs'?)")
    }

    @Test func emptyDocumentsAreSkipped() {
        let (documents, diagnostics) = FixtureFleet.decode("---\n---\n# only a comment\n")
        #expect(documents.isEmpty)
        #expect(diagnostics.isEmpty)
    }
}
